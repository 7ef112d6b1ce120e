import NIOSSL
import SteleSecurity
import SwiftASN1
import X509

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
        let configuration = try makeServerConfiguration()
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw SecurityConfigurationError("the TLS certificate \(certificateChain) and key \(privateKey) cannot be used together: \(error)")
        }
    }

    /// The TLS configuration the files describe (the HTTP API's too), checked by making a
    /// context from it once.
    public func makeServerConfiguration() throws -> TLSConfiguration {
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
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw SecurityConfigurationError("the TLS certificate \(certificateChain) and key \(privateKey) cannot be used together: \(error)")
        }
        return configuration
    }

    /// The principal a client certificate names, as Kafka's default mapping does (Java's
    /// `X500Principal.getName(RFC2253)`): `User:` and the subject's distinguished name, last
    /// RDN first (`CN=alice,OU=payments,O=Example,C=FR`). The attributes Java names by keyword
    /// (CN, C, L, ST, O, OU, STREET, DC, UID) are written `KEY=value`; any other as its OID with
    /// its DER value in hex (`1.2.840.113549.1.9.1=#1611616c696365406578616d706c652e636f6d`);
    /// the attributes of a multi-valued RDN are joined by `+`. Nil when the certificate cannot
    /// be parsed or its subject is empty: such a client gets no principal and is closed.
    static func principal(of certificate: NIOSSLCertificate) -> Principal? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        return principal(subject: parsed.subject)
    }

    static func principal(subject: DistinguishedName) -> Principal? {
        let rdns = subject.reversed().map { rdn in rdn.map(render).joined(separator: "+") }
        guard !rdns.isEmpty else { return nil }
        return Principal.user(rdns.joined(separator: ","))
    }

    /// Java's RFC 2253 keywords, by OID.
    static let keywords: [ASN1ObjectIdentifier: String] = [
        .RDNAttributeType.commonName: "CN", .RDNAttributeType.countryName: "C", .RDNAttributeType.localityName: "L",
        .RDNAttributeType.stateOrProvinceName: "ST", .RDNAttributeType.organizationName: "O",
        .RDNAttributeType.organizationalUnitName: "OU", .RDNAttributeType.streetAddress: "STREET",
        .RDNAttributeType.domainComponent: "DC", [0, 9, 2342, 19_200_300, 100, 1, 1]: "UID",
    ]

    static func render(_ attribute: RelativeDistinguishedName.Attribute) -> String {
        if let keyword = keywords[attribute.type], let text = String(attribute.value) {
            return "\(keyword)=\(escape(text))"
        }
        var serializer = DER.Serializer()
        let hex: String
        do {
            try serializer.serialize(ASN1Any(attribute.value))
            hex = serializer.serializedBytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        } catch {
            hex = ""
        }
        return "\(attribute.type)=#\(hex)"
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
