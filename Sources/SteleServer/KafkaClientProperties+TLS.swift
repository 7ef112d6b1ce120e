import NIOSSL
import SteleSecurity

extension KafkaClientProperties {
    /// The TLS context these settings ask for (nil for PLAINTEXT and SASL_PLAINTEXT), made at
    /// once so a missing or unreadable certificate is reported when the command starts, not at
    /// its first connection. The broker's certificate chains to `ssl.ca.location` (the system's
    /// roots when absent) and names the host connected to unless hostname checks are off.
    public func makeTLSContext() throws -> NIOSSLContext? {
        guard securityProtocol.usesTLS else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            if let caLocation {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caLocation))
            }
            if let certificateLocation, let keyLocation {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateLocation).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyLocation, format: .pem))
            }
            configuration.certificateVerification = verifyHostname ? .fullVerification : .noHostnameVerification
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw SecurityConfigurationError("TLS settings (\(self)): \(error)")
        }
    }
}
