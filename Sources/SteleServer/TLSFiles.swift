import NIOSSL
import SteleSecurity

/// A listener's TLS material, from PEM files: the server's certificate chain and key, and
/// optionally the CA that client certificates must chain to (mutual TLS: a client without a
/// valid certificate is refused in the handshake). TLS 1.2 at least.
public struct TLSFiles: Sendable, Equatable {
    public var certificateChain: String
    public var privateKey: String
    public var clientCA: String?

    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCA = clientCA
    }

    /// Reads the files; an error names the file and what is wrong with it.
    public func makeServerContext() throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificateChain) } catch {
            throw SecurityConfigurationError("cannot read the TLS certificate chain \(certificateChain): \(error)")
        }
        guard !chain.isEmpty else { throw SecurityConfigurationError("\(certificateChain) holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: privateKey, format: .pem) } catch {
            throw SecurityConfigurationError("cannot read the TLS private key \(privateKey) (PEM, not encrypted): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(clientCA) } catch {
                throw SecurityConfigurationError("cannot read the client CA \(clientCA): \(error)")
            }
            configuration.trustRoots = .certificates(roots)
            // A client certificate is required and must chain to the CA; clients have no host
            // name to check.
            configuration.certificateVerification = .noHostnameVerification
        }
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw SecurityConfigurationError("the TLS certificate \(certificateChain) and key \(privateKey) cannot be used together: \(error)")
        }
    }

    /// The principal a client certificate names, as Kafka's default mapping does: `User:` and
    /// the subject's distinguished name in RFC 2253 order (`CN=alice,OU=payments,O=Example,C=FR`).
    /// Attributes other than CN, OU, O, L, ST, C and UID are left out.
    static func principal(of certificate: NIOSSLCertificate) -> Principal? {
        let labels: [(SSLCertificateNameType, String)] = [
            (.commonName, "CN"), (.organizationalUnit, "OU"), (.organization, "O"), (.city, "L"),
            (.state, "ST"), (.country, "C"), (.userId, "UID"),
        ]
        let parts = certificate.subjectName.reversed().compactMap { name -> String? in
            guard let label = labels.first(where: { $0.0 == name.type })?.1 else { return nil }
            return "\(label)=\(escape(name.value))"
        }
        return parts.isEmpty ? nil : Principal.user(parts.joined(separator: ","))
    }

    /// RFC 2253 §2.4 escaping of an attribute value.
    static func escape(_ value: String) -> String {
        var escaped = ""
        for (index, character) in value.enumerated() {
            if ",+\"\\<>;".contains(character) || (index == 0 && (character == " " || character == "#"))
                || (index == value.count - 1 && character == " ") {
                escaped.append("\\")
            }
            escaped.append(character)
        }
        return escaped
    }
}
