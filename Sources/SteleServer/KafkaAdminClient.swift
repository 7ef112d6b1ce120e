import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SteleKafkaProtocol
import SteleSecurity

/// A minimal Kafka client for `stele topics` and `stele users`: classic API versions that any
/// Kafka broker (Stele or Apache Kafka) answers, one short connection per request — admin
/// commands send a handful of requests, so simplicity wins over reuse. With ``Security`` it
/// connects over TLS and logs in with SCRAM first, as a SASL_SSL or SASL_PLAINTEXT client.
public struct KafkaAdminClient: Sendable {
    public let host: String
    public let port: Int
    public let security: Security
    static let clientId = "stele-cli"

    /// How the client reaches a secured listener.
    public struct Security: Sendable {
        /// TLS, trusting these roots (the system's when nil).
        public var tls: NIOSSLContext?
        public var login: Login?

        public struct Login: Sendable {
            public var user: String
            public var password: String
            public var mechanism: ScramMechanism
        }

        public init(tls: NIOSSLContext? = nil, login: Login? = nil) {
            self.tls = tls
            self.login = login
        }

        public static let plaintext = Security()

        /// Reads a client properties file as Kafka's tools take one (`--command-config`), in the
        /// names ``KafkaClientProperties`` reads (librdkafka's, or Java's `sasl.jaas.config`). A
        /// file, so the password is never an argument. The admin client logs in with SCRAM.
        public static func load(properties path: String) throws -> Security {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw SecurityConfigurationError("cannot read \(path)")
            }
            let properties: KafkaClientProperties
            switch KafkaClientProperties.parse(text) {
            case .success(let parsed): properties = parsed
            case .failure(let error): throw SecurityConfigurationError("\(path): \(error)")
            }
            var security = Security(tls: try properties.makeTLSContext())
            if properties.securityProtocol.usesSASL, let mechanism = properties.saslMechanism, let user = properties.saslUsername,
               let password = properties.saslPassword {
                guard let scram = mechanism.scram else {
                    throw SecurityConfigurationError("\(path): sasl.mechanism \(mechanism.rawValue): the admin client logs in with SCRAM-SHA-256 or SCRAM-SHA-512")
                }
                security.login = Login(user: user, password: password, mechanism: scram)
            }
            return security
        }
    }

    public init(host: String, port: Int, security: Security = .plaintext) {
        self.host = host
        self.port = port
        self.security = security
    }

    /// Sends one request and decodes its response (`flexible`: the response has a v1 header
    /// and compact encodings).
    public func request<Response: Sendable>(_ api: ApiKey, version: Int16, flexible: Bool = false, body: (inout KafkaEncoder) -> Void,
                                            decode: @Sendable (inout KafkaDecoder) throws -> Response) async throws -> Response {
        let tls = security.tls
        let host = self.host
        // An address is not a server name (SNI); NIOSSL then checks the certificate's IP SANs
        // against the address connected to.
        let serverName = AclHost.normalize(host) == nil ? host : nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 100 << 20)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(KafkaFrameEncoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let frame = RequestFrame.encode(api: api, version: version, correlationId: 100, clientId: Self.clientId, body: body)
        let login = security.login
        return try await channel.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            var correlation: Int32 = 0
            func exchange(_ frame: ByteBuffer, flexible: Bool) async throws -> KafkaDecoder {
                try await outbound.write(frame)
                guard let response = try await responses.next() else { throw KafkaProtocolError.truncated("response (connection closed)") }
                var decoder = KafkaDecoder(response, flexible: flexible)
                let expected = correlation == 0 ? 100 : correlation
                guard try decoder.int32("correlation id") == expected else { throw KafkaProtocolError.invalid("response to another request") }
                if flexible { try decoder.taggedFields() }
                return decoder
            }
            if let login {
                correlation = 1
                var handshake = try await exchange(RequestFrame.encode(api: .saslHandshake, version: 1, correlationId: 1, clientId: Self.clientId) {
                    $0.string(login.mechanism.rawValue)
                }, flexible: false)
                guard try handshake.int16() == 0 else { throw SecurityConfigurationError("the broker does not offer \(login.mechanism.rawValue)") }
                var client = ScramClientExchange(mechanism: login.mechanism, user: login.user, password: login.password)
                func authenticate(_ message: [UInt8]) async throws -> [UInt8] {
                    correlation += 1
                    var answer = try await exchange(RequestFrame.encode(api: .saslAuthenticate, version: 1, correlationId: correlation, clientId: Self.clientId) {
                        $0.nullableBytes(message)
                    }, flexible: false)
                    let code = try answer.int16()
                    let message = try answer.nullableString()
                    guard code == 0 else { throw SecurityConfigurationError("login as \(login.user) refused: \(message ?? "error \(code)")") }
                    var bytes = try answer.nullableBytes() ?? ByteBuffer()
                    return bytes.readBytes(length: bytes.readableBytes) ?? []
                }
                let serverFirst = try await authenticate(client.firstMessage)
                let serverFinal = try await authenticate(try client.finalMessage(serverFirst: serverFirst))
                guard client.verify(serverFinal: serverFinal) else { throw SecurityConfigurationError("the broker could not prove it knows \(login.user)'s credential") }
                correlation = 0
            }
            var decoder = try await exchange(frame, flexible: flexible)
            return try decode(&decoder)
        }
    }
}
