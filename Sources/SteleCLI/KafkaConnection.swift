import NIOCore
import NIOPosix
import NIOSSL
import SteleSecurity
import SteleCore
import SteleKafkaProtocol

/// One Kafka connection of the load generator and of `stele mirror`: sends a request frame,
/// waits for its response. Written on Stele's own codec so that the generator costs little next
/// to the broker. Not for concurrent use: one request at a time.
final class KafkaConnection: @unchecked Sendable {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var correlation: Int32 = 0
    let clientId: String
    /// How long a response may take before the connection is closed and the request fails: a
    /// half-open link (a peer gone without a reset) would otherwise hold the caller for good.
    let requestTimeout: Duration

    /// A connection in clear, or over TLS with `tls` (the broker's certificate trusted).
    /// `serverHostname`: the name the certificate must carry (nil: checked against the address).
    init(host: String, port: Int, tls: NIOSSLContext? = nil, serverHostname: String? = "localhost", clientId: String = "stele-bench",
         requestTimeout: Duration = .seconds(300)) async throws {
        (self.clientId, self.requestTimeout) = (clientId, requestTimeout)
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverHostname)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 256 << 20)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(KafkaFrameEncoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let (inbound, outbound) = (channel.inbound, channel.outbound)
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    func send(_ api: ApiKey, version: Int16, body: (inout KafkaEncoder) -> Void) async throws -> KafkaDecoder {
        correlation += 1
        try await outbound.write(RequestFrame.encode(api: api, version: version, correlationId: correlation, clientId: clientId, body: body))
        // Closing the channel ends the wait below with an error.
        let (channel, timeout) = (channel.channel, requestTimeout)
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            try await channel.close()
        }
        defer { watchdog.cancel() }
        guard let frame = try await inbound.next() else {
            throw KafkaProtocolError.truncated("connection closed, or no response within \(timeout)")
        }
        var decoder = KafkaDecoder(frame, flexible: false)
        guard try decoder.int32() == correlation else { throw KafkaProtocolError.invalid("out-of-order response") }
        return decoder
    }

    /// Produce v8 of one batch with acks=all; returns the error code.
    func produce(topic: String, partition: Int32, batch: ByteBuffer) async throws -> Int16 {
        try await produceBatches(topic: topic, partition: partition, batches: batch).0.rawValue
    }

    /// Produce v8 of `batches` (one, or for a mirror several in order) to one partition with
    /// acks=all; the error and its message.
    func produceBatches(topic: String, partition: Int32, batches: ByteBuffer) async throws -> (KafkaErrorCode, String?) {
        var response = try await send(.produce, version: 8) { encoder in
            encoder.nullableString(nil)
            encoder.int16(-1)
            encoder.int32(30_000)
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([partition]) { encoder, index in
                    encoder.int32(index)
                    encoder.nullableBytes(batches)
                }
            }
        }
        _ = try response.int32("topics")
        _ = try response.string("topic")
        _ = try response.int32("partitions")
        _ = try response.int32("partition")
        let error = KafkaErrorCode(rawValue: try response.int16("error")) ?? .unknownServerError
        _ = try response.int64("base offset")
        _ = try response.int64("log append time")
        _ = try response.int64("log start offset")
        _ = try response.array("record errors") { decoder in (try decoder.int32("batch index"), try decoder.nullableString("message")) }
        return (error, try response.nullableString("error message"))
    }

    /// Fetch v11 of one partition; returns the record batches and the high watermark.
    func fetch(topic: String, partition: Int32, offset: Int64, maxBytes: Int32, maxWaitMs: Int32 = 0, minBytes: Int32 = 0) async throws -> (ByteBuffer, Int64) {
        let fetched = try await fetchPartition(topic: topic, partition: partition, offset: offset, maxBytes: maxBytes, maxWaitMs: maxWaitMs, minBytes: minBytes)
        guard fetched.errorCode == 0 else { throw KafkaProtocolError.invalid("fetch error \(fetched.errorCode)") }
        return (fetched.records, fetched.highWatermark)
    }

    /// Fetch v11 of one partition, read_uncommitted: the error (the request's, else the
    /// partition's), the high watermark and the record batches as the broker sent them.
    func fetchPartition(topic: String, partition: Int32, offset: Int64, maxBytes: Int32, maxWaitMs: Int32,
                        minBytes: Int32) async throws -> (errorCode: Int16, highWatermark: Int64, records: ByteBuffer) {
        var response = try await send(.fetch, version: 11) { encoder in
            encoder.int32(-1)
            encoder.int32(maxWaitMs)
            encoder.int32(minBytes)
            encoder.int32(maxBytes)
            encoder.int8(0)
            encoder.int32(0)
            encoder.int32(-1)
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([partition]) { encoder, index in
                    encoder.int32(index)
                    encoder.int32(-1)
                    encoder.int64(offset)
                    encoder.int64(-1)
                    encoder.int32(maxBytes)
                }
            }
            encoder.array([String]()) { $0.string($1) }
            encoder.string("")
        }
        _ = try response.int32("throttle")
        let top = try response.int16("error")
        guard top == 0 else { return (top, -1, ByteBuffer()) }
        _ = try response.int32("session"); _ = try response.int32("topics"); _ = try response.string("topic")
        _ = try response.int32("partitions"); _ = try response.int32("partition")
        let error = try response.int16("partition error")
        let highWatermark = try response.int64("high watermark")
        _ = try response.int64("last stable offset"); _ = try response.int64("log start offset")
        _ = try response.nullableArray("aborted") { decoder in (try decoder.int64("producer id"), try decoder.int64("first offset")) }
        _ = try response.int32("preferred replica")
        return (error, highWatermark, try response.nullableBytes("records") ?? ByteBuffer())
    }

    /// Produce v0–2 of one message set (formats v0/v1) with acks=all; returns the error code.
    func produceLegacy(version: Int16, topic: String, partition: Int32, messageSet: ByteBuffer) async throws -> Int16 {
        precondition((0...2).contains(version))
        var response = try await send(.produce, version: version) { encoder in
            encoder.int16(-1)
            encoder.int32(30_000)
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([partition]) { encoder, index in
                    encoder.int32(index)
                    encoder.nullableBytes(messageSet)
                }
            }
        }
        _ = try response.int32(); _ = try response.string(); _ = try response.int32(); _ = try response.int32()
        return try response.int16()
    }

    /// Fetch v0–3 of one partition: the message set (formats v0/v1) and the high watermark.
    func fetchLegacy(version: Int16, topic: String, partition: Int32, offset: Int64, maxBytes: Int32) async throws -> (ByteBuffer, Int64) {
        precondition((0...3).contains(version))
        var response = try await send(.fetch, version: version) { encoder in
            encoder.int32(-1)
            encoder.int32(0)
            encoder.int32(0)
            if version >= 3 { encoder.int32(maxBytes) }
            encoder.array([topic]) { encoder, name in
                encoder.string(name)
                encoder.array([partition]) { encoder, index in
                    encoder.int32(index)
                    encoder.int64(offset)
                    encoder.int32(maxBytes)
                }
            }
        }
        if version >= 1 { _ = try response.int32() }
        _ = try response.int32(); _ = try response.string(); _ = try response.int32(); _ = try response.int32()
        let error = try response.int16()
        guard error == 0 else { throw KafkaProtocolError.invalid("fetch error \(error)") }
        let highWatermark = try response.int64()
        return (try response.nullableBytes() ?? ByteBuffer(), highWatermark)
    }

    /// SaslHandshake v1 and SaslAuthenticate v1 with SCRAM, as librdkafka logs in; throws
    /// unless the broker accepts and proves it holds the credential.
    func login(user: String, password: String, mechanism: ScramMechanism) async throws {
        var handshake = try await send(.saslHandshake, version: 1) { $0.string(mechanism.rawValue) }
        guard try handshake.int16() == 0 else { throw LoginRefused("the broker does not offer \(mechanism.rawValue)") }
        var client = ScramClientExchange(mechanism: mechanism, user: user, password: password)
        let serverFirst = try await authenticate(client.firstMessage)
        let serverFinal = try await authenticate(try client.finalMessage(serverFirst: serverFirst))
        guard client.verify(serverFinal: serverFinal) else { throw LoginRefused("the broker's SCRAM signature is wrong: it does not hold this user's credential") }
    }

    /// SaslHandshake v1 and SaslAuthenticate v1 with PLAIN (RFC 4616: the password itself, so
    /// only over TLS).
    func loginPlain(user: String, password: String) async throws {
        var handshake = try await send(.saslHandshake, version: 1) { $0.string("PLAIN") }
        guard try handshake.int16() == 0 else { throw LoginRefused("the broker does not offer PLAIN") }
        _ = try await authenticate([0] + Array(user.utf8) + [0] + Array(password.utf8))
    }

    private func authenticate(_ message: [UInt8]) async throws -> [UInt8] {
        var response = try await send(.saslAuthenticate, version: 1) { $0.nullableBytes(message) }
        let error = try response.int16()
        let message = try response.nullableString()
        guard error == 0 else {
            throw LoginRefused("refused (\(KafkaErrorCode(rawValue: error).map { "\($0)" } ?? "error \(error)"))" + (message.map { ": \($0)" } ?? ""))
        }
        var bytes = try response.nullableBytes() ?? ByteBuffer()
        return bytes.readBytes(length: bytes.readableBytes) ?? []
    }

    func close() async {
        outbound.finish()
        try? await channel.channel.close()
    }
}

/// Why a SASL login failed, as the broker or the exchange said.
struct LoginRefused: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
