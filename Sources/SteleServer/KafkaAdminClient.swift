import NIOCore
import NIOPosix
import SteleKafkaProtocol

/// A minimal Kafka client for `stele topics`: classic API versions that any Kafka broker
/// (Stele or Apache Kafka) answers, one short connection per request — admin commands send a
/// handful of requests, so simplicity wins over reuse.
public struct KafkaAdminClient: Sendable {
    public let host: String
    public let port: Int
    static let clientId = "stele-cli"

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Sends one request and decodes its response.
    public func request<Response: Sendable>(_ api: ApiKey, version: Int16, body: (inout KafkaEncoder) -> Void,
                                            decode: @Sendable (inout KafkaDecoder) throws -> Response) async throws -> Response {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 100 << 20)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(KafkaFrameEncoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let frame = RequestFrame.encode(api: api, version: version, correlationId: 1, clientId: Self.clientId, body: body)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(frame)
            var responses = inbound.makeAsyncIterator()
            guard let response = try await responses.next() else { throw KafkaProtocolError.truncated("response (connection closed)") }
            var decoder = KafkaDecoder(response, flexible: false)
            guard try decoder.int32("correlation id") == 1 else { throw KafkaProtocolError.invalid("response to another request") }
            return try decode(&decoder)
        }
    }
}
