import Foundation
import Testing
import NIOCore
import SteleCore
import SteleCompression
import SteleKafkaProtocol
import SteleTestSupport
@testable import SteleServer

/// A decompression bomb (a small gzip batch that expands past the 64 MiB cap) is refused and
/// nothing of it is stored; checking it runs off the shared pool, so other clients are answered
/// while several bombs are being expanded.
extension KafkaServerTests {
    static func gzipBomb() throws -> [UInt8] {
        var plain = RecordBatchBuilder(baseTimestamp: 1_700_000_000_000)
        plain.append(key: Array("k".utf8), value: Array("v".utf8))
        let header = Array(plain.build()[..<RecordBatchHeader.size])
        var batch = header + (try KafkaCodecs().compress(.gzip, [UInt8](repeating: 0, count: 80 << 20)))
        let length = Int32(batch.count - 12)
        batch.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.bigEndian, toByteOffset: RecordBatchHeader.Field.batchLength, as: Int32.self)
            raw.storeBytes(of: RecordBatchAttributes.make(compression: .gzip).rawValue.bigEndian, toByteOffset: RecordBatchHeader.Field.attributes, as: Int16.self)
            RecordBatch.updateChecksum(in: raw)
        }
        return batch
    }

    @Test func aDecompressionBombIsRefusedWithoutStallingOtherClients() async throws {
        try #require(KafkaCodecs().supports(.gzip))
        let harness = try await Harness()
        let bomb = try Self.gzipBomb()
        #expect(bomb.count < 1 << 20, "small on the wire: \(bomb.count) bytes")
        var bombers: [RawConnection] = []
        for index in 0..<4 {
            let connection = try await RawConnection(port: harness.server.port)
            try await connection.send(Self.produceFrame(topic: "bomb", correlation: Int32(index), batch: bomb))
            bombers.append(connection)
        }
        let other = try await RawConnection(port: harness.server.port)
        try await other.send(RequestFrame.encode(api: .apiVersions, version: 0, correlationId: 7, clientId: "test") { _ in })
        #expect(try await withHangLimit("another client's request to be answered") { try await other.receive() } != nil)
        for bomber in bombers {
            #expect(try await withHangLimit("the bomb to be refused") { try await bomber.receive() } != nil, "answered (with an error), not dropped")
        }
        #expect((harness.broker.topic("bomb")?.partitions[0].logEndOffset ?? 0) == 0, "nothing of a bomb is stored")
        try await harness.stop()
    }
}
