import Logging
import NIOCore
import SteleKafkaProtocol
import SteleLog
import SteleSecurity

/// What one connection has proved about itself: the principal it acts as and, on a SASL
/// listener, where its authentication stands.
struct ConnectionSecurity: Sendable {
    /// `User:ANONYMOUS`, a client certificate's subject, or the SASL user once authenticated.
    var principal: Principal
    /// Nil on a listener without SASL.
    var sasl: SaslSession?
    /// After a v0 handshake the SASL messages come as bare size-prefixed tokens, not requests
    /// (what kafka-python 2.0 and aiokafka send).
    var rawTokens = false
    /// The mechanism being used, for the log.
    var mechanism: String?
    let peer: String
    /// The client's IP address, as ACLs name hosts.
    let host: String
    /// Whether the connection is still open (NIO's `isActive`, safe from any thread): a
    /// transaction request read from a connection its client already abandoned changes nothing.
    var isConnected: @Sendable () -> Bool = { true }

    init(principal: Principal = .anonymous, sasl: SaslSession? = nil, peer: String, host: String) {
        self.principal = principal
        self.sasl = sasl
        self.peer = peer
        self.host = host
    }

    static let plaintext = ConnectionSecurity(peer: "test", host: "127.0.0.1")

    var requester: Requester { Requester(principal: principal, host: host) }
}

extension KafkaRequestHandler {
    /// How long a connection that failed to authenticate waits before it is closed (Kafka
    /// `connection.failed.authentication.delay.ms`): slows a client guessing passwords.
    static let failedAuthenticationDelay = Duration.milliseconds(100)

    /// Runs SASL steps: a PLAIN login is a PBKDF2 run of thousands of HMACs, which must not
    /// hold a thread of the pool every connection and the HTTP API share. One thread, so a
    /// flood of logins takes at most one core; its queue is bounded by the connections, each
    /// of which has one request in flight.
    static let authenticating = IOExecutor(threadCount: 1, name: "stele-sasl")

    /// Where the session goes with `message`, computed on ``authenticating``.
    func authenticate(_ message: [UInt8], session: SaslSession) async -> (SaslSession, SaslSession.AuthenticateAnswer) {
        let credentials = broker.credentials
        let now = ContinuousClock.now
        let result = try? await Self.authenticating.run { () -> (SaslSession, SaslSession.AuthenticateAnswer) in
            var session = session
            let answer = session.authenticate(message, at: now, credentials: credentials)
            return (session, answer)
        }
        return result ?? (session, .failed(reason: "the server is stopping"))
    }

    /// The requests a SASL connection may send before it has authenticated.
    static func allowedBeforeAuthentication(_ key: Int16) -> Bool {
        key == ApiKey.apiVersions.rawValue || key == ApiKey.saslHandshake.rawValue || key == ApiKey.saslAuthenticate.rawValue
    }

    /// A bare SASL token after a v0 handshake: answered with a bare token, or the connection
    /// closes without an answer when authentication fails (as Kafka does in this mode).
    func rawToken(_ frame: ByteBuffer, connection: inout ConnectionSecurity) async -> Outcome {
        var frame = frame
        let token = frame.readBytes(length: frame.readableBytes) ?? []
        guard let session = connection.sasl else { return .close("a SASL token on a listener without SASL") }
        let (next, answer) = await authenticate(token, session: session)
        connection.sasl = next
        func bare(_ bytes: [UInt8]) -> ByteBuffer {
            var buffer = allocator.buffer(capacity: bytes.count + 4)
            buffer.writeInteger(Int32(bytes.count))
            buffer.writeBytes(bytes)
            return buffer
        }
        switch answer {
        case let .challenge(bytes): return .respond(bare(bytes))
        case let .authenticated(principal, final, _):
            connection.rawTokens = false
            connection.principal = principal
            authenticated(principal, connection: connection)
            return .respond(bare(final))
        case let .failed(reason):
            authenticationFailed(reason, connection: connection)
            return .closeAfter(Self.failedAuthenticationDelay, "SASL authentication failed")
        case .illegalState:
            return .close("a SASL token with no mechanism chosen")
        }
    }

    func saslHandshake(_ request: SaslHandshakeRequest, version: Int16, connection: inout ConnectionSecurity,
                       respond: (SaslHandshakeResponse) -> ByteBuffer) -> Outcome {
        guard var session = connection.sasl else {
            return .respondThenClose(respond(.init(errorCode: .illegalSaslState, mechanisms: [])), after: .zero,
                                     "a SASL handshake on a listener without SASL")
        }
        let answer = session.handshake(mechanism: request.mechanism)
        connection.sasl = session
        let enabled = session.enabled.map(\.rawValue)
        switch answer {
        case .accepted:
            connection.mechanism = request.mechanism
            connection.rawTokens = version == 0
            return .respond(respond(.init(errorCode: .none, mechanisms: enabled)))
        case .unsupportedMechanism:
            logger.warning("SASL mechanism refused", metadata: ["peer": "\(connection.peer)", "mechanism": "\(request.mechanism)", "enabled": "\(enabled)"])
            return .respondThenClose(respond(.init(errorCode: .unsupportedSaslMechanism, mechanisms: enabled)), after: .zero,
                                     "unsupported SASL mechanism \(request.mechanism)")
        case .illegalState:
            return .respondThenClose(respond(.init(errorCode: .illegalSaslState, mechanisms: enabled)), after: .zero,
                                     "a SASL handshake out of turn")
        }
    }

    func saslAuthenticate(_ request: SaslAuthenticateRequest, connection: inout ConnectionSecurity,
                          respond: (SaslAuthenticateResponse) -> ByteBuffer) async -> Outcome {
        guard let session = connection.sasl else {
            return .respondThenClose(respond(.init(errorCode: .illegalSaslState, errorMessage: "this listener does not use SASL")), after: .zero,
                                     "SaslAuthenticate on a listener without SASL")
        }
        let (next, answer) = await authenticate(request.authBytes, session: session)
        connection.sasl = next
        switch answer {
        case let .challenge(bytes):
            return .respond(respond(.init(errorCode: .none, authBytes: bytes)))
        case let .authenticated(principal, final, lifetime):
            connection.principal = principal
            authenticated(principal, connection: connection)
            let milliseconds = lifetime.map { Int64($0.components.seconds) * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 } ?? 0
            return .respond(respond(.init(errorCode: .none, authBytes: final, sessionLifetimeMs: milliseconds)))
        case let .failed(reason):
            authenticationFailed(reason, connection: connection)
            // The client learns only that it failed: which of user or password was wrong is
            // for the operator's log.
            let message = "Authentication failed during authentication due to invalid credentials with SASL mechanism \(connection.mechanism ?? "?")"
            return .respondThenClose(respond(.init(errorCode: .saslAuthenticationFailed, errorMessage: message)),
                                     after: Self.failedAuthenticationDelay, "SASL authentication failed")
        case .illegalState:
            return .respondThenClose(respond(.init(errorCode: .illegalSaslState, errorMessage: "SaslAuthenticate before a SaslHandshake")),
                                     after: .zero, "SaslAuthenticate out of turn")
        }
    }

    private func authenticated(_ principal: Principal, connection: ConnectionSecurity) {
        SecurityMetrics.shared.authentications.increment()
        logger.debug("authenticated", metadata: ["peer": "\(connection.peer)", "principal": "\(principal)", "mechanism": "\(connection.mechanism ?? "?")"])
    }

    private func authenticationFailed(_ reason: String, connection: ConnectionSecurity) {
        SecurityMetrics.shared.failures.increment()
        // The reason names the user, never a password.
        logger.warning("SASL authentication failed", metadata: [
            "peer": "\(connection.peer)", "mechanism": "\(connection.mechanism ?? "?")", "reason": "\(reason)",
        ])
    }
}
