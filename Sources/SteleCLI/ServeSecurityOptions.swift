import Foundation
import ArgumentParser
import NIOSSL
import SteleSecurity
import SteleServer

/// `stele serve`'s listener and security flags, in Kafka's terms.
struct ServeSecurityOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Kafka listeners in Kafka's syntax, e.g. 'PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093' (protocols: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; each at most once). Without it: one PLAINTEXT listener on --listen:--kafka-port.", valueName: "list"))
    var listeners: String?

    @Option(help: ArgumentHelp("What Metadata tells clients of each listener, same syntax, matched by protocol (default: each listener's own address; --advertised-host/--advertised-port for the first).", valueName: "list"))
    var advertisedListeners: String?

    @Option(help: ArgumentHelp("PEM certificate chain for SSL and SASL_SSL listeners.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key (not encrypted) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("PEM CA bundle client certificates on SSL listeners must chain to (mutual TLS; the principal is User:<certificate subject>).", valueName: "file"))
    var tlsClientCa: String?

    @Option(help: ArgumentHelp("SASL mechanisms SASL listeners offer (PLAIN sends the password itself: use it over SASL_SSL).", valueName: "list"))
    var saslMechanisms = "SCRAM-SHA-512,SCRAM-SHA-256"

    @Option(help: "Milliseconds a SASL authentication holds before the client must re-authenticate on its connection (KIP-368); 0: the connection's life (Kafka connections.max.reauth.ms).")
    var connectionsMaxReauthMs = 0

    @Option(help: ArgumentHelp("'acl': every Kafka request is decided by the ACLs in DATA/security/acls.json (stele acls), and what no ACL allows is denied; 'none': everything is allowed.", valueName: "acl|none"))
    var authorizer = "none"

    @Option(help: ArgumentHelp("Principals allowed everything whatever the ACLs say, separated by ';' as Kafka's super.users or by ',' (e.g. 'User:admin;User:CN=ops,O=Example').", valueName: "list"))
    var superUsers = ""

    @Flag(help: "With --authorizer acl, allow a request on a resource no ACL names at all (Kafka allow.everyone.if.no.acl.found; by default it is denied).")
    var allowEveryoneIfNoAclFound = false

    @Flag(help: "Serve the HTTP API over TLS with --tls-cert and --tls-key.")
    var httpTls = false

    @Flag(help: "With --authorizer acl, serve /metrics without credentials (for a scraper on a trusted network).")
    var httpPublicMetrics = false

    @Flag(help: "Serve listeners that authenticate nobody (PLAINTEXT, SSL without client certificates, and HTTP) on addresses other machines can reach. Anyone who reaches them can read, write and delete everything.")
    var allowUnauthenticatedNetworkAccess = false

    /// The HTTP API's TLS configuration (`--http-tls`), its files read now so a bad one stops
    /// the start with its name.
    func httpTLS() throws -> TLSConfiguration? {
        guard httpTls else { return nil }
        guard let tlsCert, let tlsKey else { throw ValidationError("--http-tls needs --tls-cert and --tls-key") }
        return try TLSFiles(certificateChain: tlsCert, privateKey: tlsKey).makeServerConfiguration()
    }

    /// Principals separated by `;` as Kafka's `super.users`, or by `,` as the issue that
    /// introduced the flag spelled it: a piece that does not start `Type:` belongs to the
    /// principal before it (a certificate subject, `User:CN=ops,O=Example`).
    static func principalList(_ text: String) -> [String] {
        if text.contains(";") {
            return text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var principals: [String] = []
        for piece in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !piece.isEmpty {
            let startsPrincipal = piece.firstIndex(of: ":").map { colon in
                !piece[..<colon].isEmpty && piece[..<colon].allSatisfy(\.isLetter)
            } ?? false
            if startsPrincipal || principals.isEmpty { principals.append(piece) } else { principals[principals.count - 1] += "," + piece }
        }
        return principals
    }

    /// The authorizer the flags describe; nil for `--authorizer none`.
    func makeAuthorizer() throws -> Authorizer? {
        var superUsers: Set<Principal> = []
        for text in Self.principalList(self.superUsers) {
            guard let principal = Principal(text) else { throw ValidationError("--super-users: '\(text)' is not a principal (User:NAME)") }
            superUsers.insert(principal)
        }
        switch authorizer.lowercased() {
        case "acl":
            return Authorizer(superUsers: superUsers, allowEveryoneIfNoAclFound: allowEveryoneIfNoAclFound)
        case "none", "":
            if !superUsers.isEmpty || allowEveryoneIfNoAclFound {
                throw ValidationError("--super-users and --allow-everyone-if-no-acl-found need --authorizer acl")
            }
            return nil
        default:
            throw ValidationError("--authorizer is 'acl' or 'none', got '\(authorizer)'")
        }
    }

    /// The Kafka listeners to bind, the first one taking `base`'s place; each listener's error names it.
    func kafkaListeners(base: KafkaServer.Configuration, listen: String, kafkaPort: Int) throws -> [KafkaServer.Configuration] {
        let listeners: [KafkaListener]
        if let text = self.listeners {
            listeners = try KafkaListener.parseList(text).get()
            let protocols = listeners.map(\.securityProtocol)
            guard Set(protocols).count == protocols.count else {
                throw ValidationError("--listeners names a security protocol twice (a listener is named by its protocol, as in Kafka's default map)")
            }
        } else {
            listeners = [KafkaListener(securityProtocol: .plaintext, host: listen, port: kafkaPort)]
        }
        let advertised = try advertisedListeners.map { try KafkaListener.parseList($0).get() } ?? []
        for entry in advertised where !listeners.contains(where: { $0.securityProtocol == entry.securityProtocol }) {
            throw ValidationError("--advertised-listeners names \(entry.securityProtocol.rawValue), which --listeners does not")
        }
        let mechanisms = try SaslMechanism.parseList(saslMechanisms).get()
        guard (0...Int(Int32.max)).contains(connectionsMaxReauthMs) else {
            throw ValidationError("--connections-max-reauth-ms must be 0...\(Int32.max), got \(connectionsMaxReauthMs)")
        }
        let authorizer = try makeAuthorizer()
        if tlsClientCa != nil && !listeners.contains(where: { $0.securityProtocol == .ssl }) {
            throw ValidationError("--tls-client-ca applies to SSL listeners, and --listeners has none")
        }
        let tls: TLSFiles? = try {
            switch (tlsCert, tlsKey) {
            case let (cert?, key?): return TLSFiles(certificateChain: cert, privateKey: key, clientCA: tlsClientCa)
            case (nil, nil):
                if tlsClientCa != nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
                return nil
            default: throw ValidationError("--tls-cert and --tls-key go together")
            }
        }()
        return try listeners.map { listener in
            var configuration = base
            configuration.host = listener.host
            configuration.port = listener.port
            configuration.securityProtocol = listener.securityProtocol
            if listener.securityProtocol.usesTLS {
                guard var tls else { throw ValidationError("listener \(listener) needs --tls-cert and --tls-key") }
                // Client certificates are asked for on SSL listeners only: on SASL_SSL, SASL
                // names the principal (Kafka ignores ssl.client.auth there too).
                if listener.securityProtocol == .saslSSL { tls.clientCA = nil }
                configuration.tls = tls
            }
            configuration.saslMechanisms = mechanisms
            configuration.authorizer = authorizer
            configuration.saslSessionLifetime = connectionsMaxReauthMs > 0 ? .milliseconds(connectionsMaxReauthMs) : nil
            if let entry = advertised.first(where: { $0.securityProtocol == listener.securityProtocol }) {
                configuration.advertisedHost = entry.host
                configuration.advertisedPort = entry.port
            } else if self.listeners != nil {
                configuration.advertisedHost = nil
                configuration.advertisedPort = nil
            }
            return configuration
        }
    }

    /// Refuses to serve, on an address other machines reach, a listener that authenticates
    /// nobody, unless the operator said so with the flag.
    func checkExposure(kafka: [KafkaServer.Configuration], httpHost: String) throws {
        guard !allowUnauthenticatedNetworkAccess else { return }
        for listener in kafka where !KafkaListener.isLoopback(listener.host) {
            let authenticates = listener.securityProtocol.usesSASL || (listener.securityProtocol == .ssl && listener.tls?.clientCA != nil)
            if !authenticates {
                throw ValidationError("""
                    the \(listener.securityProtocol.rawValue) listener on \(listener.host):\(listener.port) would let anyone who reaches it \
                    read, write and delete everything. Use SASL_SSL (or SSL with --tls-client-ca) there, keep it on 127.0.0.1, \
                    or pass --allow-unauthenticated-network-access if this network is trusted.
                    """)
            }
        }
        // With an authorizer the HTTP API authenticates every request (but /health and the
        // OpenAPI document) — over TLS only off loopback: tokens and passwords must not cross
        // the network in clear.
        if !KafkaListener.isLoopback(httpHost) && authorizer.lowercased() == "acl" && !httpTls {
            throw ValidationError("""
                the HTTP API on \(httpHost) would receive tokens and passwords in clear. Add --http-tls (with --tls-cert and \
                --tls-key), keep it on 127.0.0.1, or pass --allow-unauthenticated-network-access if this network is trusted.
                """)
        }
        if !KafkaListener.isLoopback(httpHost) && authorizer.lowercased() != "acl" {
            throw ValidationError("""
                the HTTP API on \(httpHost) would let anyone who reaches it read and append events. Use --authorizer acl (every \
                request then needs a token or a password), keep it on 127.0.0.1 (--http-listen), or pass \
                --allow-unauthenticated-network-access if this network is trusted.
                """)
        }
    }
}
