import ArgumentParser
import Foundation
import NIOCore
import NIOSSL
import SteleSecurity
import SteleServer

/// One side of a mirror: a broker's address and how to connect to it (TLS, SASL), from a
/// client properties file in librdkafka's names (``KafkaClientProperties``).
struct KafkaEndpoint: Sendable {
    let host: String
    let port: Int
    let properties: KafkaClientProperties
    /// The name the broker's certificate must carry when it is not `host` (a node's own mirror
    /// connects to its loopback address, but its certificate names the node's advertised host).
    var serverName: String?
    /// Made once at start, so a missing or unreadable certificate stops the command there.
    private let tls: NIOSSLContext?

    var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    init(host: String, port: Int, properties: KafkaClientProperties = KafkaClientProperties()) throws {
        (self.host, self.port, self.properties) = (host, port, properties)
        do { tls = try properties.makeTLSContext() } catch { throw ValidationError("\(error)") }
    }

    /// `address` (HOST:PORT, given with `flag`) connected to as `configFile` says (in clear when nil).
    init(address text: String, flag: String, configFile: String?, configFlag: String) throws {
        let (host, port) = try MirrorCommand.address(text, flag)
        try self.init(host: host, port: port, properties: try configFile.map { try Self.load($0, flag: configFlag) } ?? KafkaClientProperties())
    }

    /// Reads and checks a properties file; a file holding a password that others may read is
    /// refused, as ssh refuses such a private key.
    static func load(_ path: String, flag: String) throws -> KafkaClientProperties {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(flag) \(path): cannot be read")
        }
        let properties: KafkaClientProperties
        switch KafkaClientProperties.parse(text) {
        case .success(let parsed): properties = parsed
        case .failure(let error): throw ValidationError("\(flag) \(path): \(error)")
        }
        if properties.holdsSecret {
            // stat follows symlinks (a mounted secret is reached through some): the file's own
            // mode counts. A file whose mode cannot be read is refused, not waved through.
            var info = stat()
            guard stat(path, &info) == 0 else { throw ValidationError("\(flag) \(path): cannot check who may read it") }
            let mode = Int(info.st_mode) & 0o777
            if mode & 0o077 != 0 {
                throw ValidationError("\(flag) \(path) holds sasl.password but others may read it (mode \(String(mode, radix: 8))): chmod 600 it")
            }
        }
        return properties
    }

    /// A connection, over TLS and logged in as the properties say. The certificate is checked
    /// against the host name, or against the address when `host` is an IP address (SNI carries
    /// no address).
    func connect(clientId: String, requestTimeout: Duration) async throws -> KafkaConnection {
        let name = serverName ?? host
        let isAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        let connection = try await KafkaConnection(host: host, port: port, tls: tls, serverHostname: isAddress ? nil : name,
                                                   clientId: clientId, requestTimeout: requestTimeout)
        guard properties.securityProtocol.usesSASL, let mechanism = properties.saslMechanism,
              let user = properties.saslUsername, let password = properties.saslPassword else { return connection }
        do {
            if let scram = mechanism.scram {
                try await connection.login(user: user, password: password, mechanism: scram)
            } else {
                try await connection.loginPlain(user: user, password: password)
            }
        } catch {
            await connection.close()
            throw MirrorError("logging in to \(address) as \(user) with \(mechanism.rawValue): \(error)")
        }
        return connection
    }
}
