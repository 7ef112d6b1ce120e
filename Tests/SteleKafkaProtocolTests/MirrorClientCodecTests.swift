import NIOCore
import Testing
@testable import SteleKafkaProtocol

/// The mirror's client encodings (Fetch v11, Produce v8 of many partitions) read back by the
/// server's decoders, and the server's responses read back by the client's: the two sides of
/// the same versions agree field by field, and a cut response is refused, never misread.
struct MirrorClientCodecTests {
    @Test func aManyPartitionFetchIsReadByTheServerAsSent() throws {
        let request = FetchRequest(maxWaitMs: 500, minBytes: 1, maxBytes: 32 << 20, topics: [
            .init(name: "orders", partitions: [.init(partition: 0, fetchOffset: 17, maxBytes: 1 << 20), .init(partition: 2, fetchOffset: 0, maxBytes: 1 << 20)]),
            .init(name: "payments", partitions: [.init(partition: 1, fetchOffset: 1 << 40, maxBytes: 4096)]),
        ])
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        request.encode(&encoder, version: 11)
        var decoder = KafkaDecoder(encoder.buffer, flexible: false)
        let read = try FetchRequest.decode(&decoder, version: 11)
        #expect(decoder.remaining == 0)
        #expect((read.maxWaitMs, read.minBytes, read.maxBytes, read.isolationLevel, read.sessionId, read.sessionEpoch) == (500, 1, 32 << 20, 0, 0, -1))
        #expect(read.topics.map(\.name) == ["orders", "payments"])
        #expect(read.topics[0].partitions == request.topics[0].partitions)
        #expect(read.topics[1].partitions == request.topics[1].partitions)
    }

    @Test func theServersFetchResponseIsReadBack() throws {
        var response = FetchResponse(topics: [
            .init(name: "orders", partitions: [
                .init(partition: 0, errorCode: .none, highWatermark: 40, logStartOffset: 3, records: [1, 2, 3, 4], lastStableOffset: 38,
                      abortedTransactions: [(producerId: 9, firstOffset: 20)]),
                .init(partition: 2, errorCode: .offsetOutOfRange, highWatermark: -1, logStartOffset: -1),
            ]),
        ])
        response.throttleTimeMs = 12
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        response.encode(&encoder, version: 11)
        let bytes = encoder.buffer
        var decoder = KafkaDecoder(bytes, flexible: false)
        let read = try FetchResponse.decode(&decoder, version: 11)
        #expect(decoder.remaining == 0)
        #expect(read.throttleTimeMs == 12 && read.errorCode == .none)
        let first = read.topics[0].partitions[0]
        #expect((first.partition, first.errorCode, first.highWatermark, first.logStartOffset, first.lastStableOffset) == (0, .none, 40, 3, 38))
        #expect(first.records == [1, 2, 3, 4])
        #expect(first.abortedTransactions.map(\.producerId) == [9] && first.abortedTransactions.map(\.firstOffset) == [20])
        #expect(read.topics[0].partitions[1].errorCode == .offsetOutOfRange)
        // Every cut of the response is refused.
        for length in 0..<bytes.readableBytes {
            var cut = KafkaDecoder(bytes.getSlice(at: 0, length: length)!, flexible: false)
            #expect(throws: (any Error).self) { _ = try FetchResponse.decode(&cut, version: 11) }
        }
    }

    @Test func aManyPartitionProduceIsReadByTheServerAsSent() throws {
        let request = ProduceRequest(acks: -1, timeoutMs: 30_000, batches: [
            (topic: "orders", partitions: [(index: 0, records: ByteBuffer(bytes: [1, 2])), (index: 1, records: ByteBuffer(bytes: [3]))]),
            (topic: "payments", partitions: [(index: 4, records: ByteBuffer(bytes: [5, 6, 7]))]),
        ])
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        request.encode(&encoder, version: 8)
        var decoder = KafkaDecoder(encoder.buffer, flexible: false)
        let read = try ProduceRequest.decode(&decoder, version: 8)
        #expect(decoder.remaining == 0)
        #expect(read.transactionalId == nil && read.acks == -1 && read.timeoutMs == 30_000)
        #expect(read.topics.map(\.name) == ["orders", "payments"])
        #expect(read.topics.flatMap { $0.partitions.map(\.index) } == [0, 1, 4])
        #expect(read.topics.flatMap { $0.partitions.map { Array($0.records!.readableBytesView) } } == [[1, 2], [3], [5, 6, 7]])
    }

    @Test func theServersProduceResponseIsReadBack() throws {
        var response = ProduceResponse(topics: [
            (name: "orders", partitions: [
                .init(index: 0, errorCode: .none, baseOffset: 100, logAppendTimeMs: -1, logStartOffset: 0),
                .init(index: 1, errorCode: .policyViolation, errorMessage: "orders is an active mirror topic",
                      recordErrors: [.init(batchIndex: 2, message: "no")]),
            ]),
        ])
        response.throttleTimeMs = 5
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        response.encode(&encoder, version: 8)
        let bytes = encoder.buffer
        var decoder = KafkaDecoder(bytes, flexible: false)
        let read = try ProduceResponse.decode(&decoder, version: 8)
        #expect(decoder.remaining == 0)
        #expect(read == response)
        for length in 0..<bytes.readableBytes {
            var cut = KafkaDecoder(bytes.getSlice(at: 0, length: length)!, flexible: false)
            #expect(throws: (any Error).self) { _ = try ProduceResponse.decode(&cut, version: 8) }
        }
    }
}
