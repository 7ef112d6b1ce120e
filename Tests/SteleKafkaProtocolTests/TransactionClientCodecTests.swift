import NIOCore
import Testing
@testable import SteleKafkaProtocol

/// The transaction client's encodings (InitProducerId, AddPartitionsToTxn, EndTxn v1) read by
/// the server's decoders, and the server's answers read back by the client's.
struct TransactionClientCodecTests {
    static func roundTrip<T>(_ encode: (inout KafkaEncoder) -> Void, _ decode: (inout KafkaDecoder) throws -> T) throws -> T {
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        encode(&encoder)
        var decoder = KafkaDecoder(encoder.buffer, flexible: false)
        let value = try decode(&decoder)
        #expect(decoder.remaining == 0)
        // Every cut is refused, never misread.
        for length in 0..<encoder.buffer.readableBytes {
            var cut = KafkaDecoder(encoder.buffer.getSlice(at: 0, length: length)!, flexible: false)
            #expect(throws: (any Error).self) { _ = try decode(&cut) }
        }
        return value
    }

    @Test func requestsAreReadByTheServerAsSent() throws {
        let initRequest = InitProducerIdRequest(transactionalId: "stele-mirror dc1:9092", transactionTimeoutMs: 60_000)
        let readInit = try Self.roundTrip({ initRequest.encode(&$0, version: 1) }, { try InitProducerIdRequest.decode(&$0, version: 1) })
        #expect(readInit == initRequest)
        let add = AddPartitionsToTxnRequest(transactionalId: "t", producerId: 42, producerEpoch: 3, topics: [(name: "orders", partitions: [0, 2]), (name: "progress", partitions: [0])])
        #expect(try Self.roundTrip({ add.encode(&$0, version: 1) }, { try AddPartitionsToTxnRequest.decode(&$0, version: 1) }) == add)
        let end = EndTxnRequest(transactionalId: "t", producerId: 42, producerEpoch: 3, committed: true)
        #expect(try Self.roundTrip({ end.encode(&$0, version: 1) }, { try EndTxnRequest.decode(&$0, version: 1) }) == end)
    }

    @Test func theServersAnswersAreReadBack() throws {
        let initAnswer = InitProducerIdResponse(errorCode: .none, producerId: 1 << 40, producerEpoch: 7)
        #expect(try Self.roundTrip({ initAnswer.encode(&$0, version: 1) }, { try InitProducerIdResponse.decode(&$0, version: 1) }) == initAnswer)
        let added = AddPartitionsToTxnResponse(topics: [.init(name: "orders", partitions: [.init(partition: 0, errorCode: .none), .init(partition: 2, errorCode: .invalidProducerEpoch)])])
        #expect(try Self.roundTrip({ added.encode(&$0, version: 1) }, { try AddPartitionsToTxnResponse.decode(&$0, version: 1) }) == added)
        let ended = EndTxnResponse(errorCode: .producerFenced)
        #expect(try Self.roundTrip({ ended.encode(&$0, version: 1) }, { try EndTxnResponse.decode(&$0, version: 1) }) == ended)
    }
}
