import Foundation
import Hummingbird
import NIOCore
import SteleBroker
import SteleCompression
import SteleCore
import SteleKafkaProtocol
import SteleLog
import SteleWire

/// A topic's records over HTTP, for the console's message browser: read committed records of
/// a partition (from an offset, from a time, the newest, or one key's), write one record, and
/// delete the topic.
struct TopicRecordRoutes: Sendable {
    let broker: Broker
    let maxBodyBytes: Int

    /// Most records one read returns, and most bytes of records it gathers.
    static let maxLimit = 500
    static let maxReadBytes = 4 << 20
    /// Most bytes of batches one read goes through.
    static let maxScanBytes = 32 << 20

    func register(on router: Router<SteleRequestContext>) {
        router.get("topics/:name/records") { request, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            let log: PartitionLog
            switch partition(of: name, request.uri.queryParameters["partition"].map(String.init)) {
            case let .success(found): log = found
            case let .failure(problem): return problem.response
            }
            let query = request.uri.queryParameters
            var limit = 50
            if let text = query["limit"] {
                guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
                    return JSONResponse.problem(.badRequest, "limit must be 1…\(Self.maxLimit)")
                }
                limit = value
            }
            do {
                // `offset` and `timestamp` each say where to start (both given: the later);
                // `key` keeps that key's records from there on.
                var start: Int64?
                if let text = query["offset"] {
                    guard let offset = Int64(text), offset >= 0 else { return JSONResponse.problem(.badRequest, "offset must be an integer ≥ 0") }
                    start = offset
                }
                if let text = query["timestamp"] {
                    guard let time = Int64(text), time >= 0 else { return JSONResponse.problem(.badRequest, "timestamp must be epoch milliseconds ≥ 0") }
                    let found = try await log.offset(atOrAfterTimestamp: time) ?? log.lastStableOffset
                    start = max(start ?? 0, found)
                }
                if let key = query["key"] {
                    let records = try await Self.keyed(log, key: Array(key.utf8), from: start ?? 0, limit: limit)
                    var page: [String: JSONValue] = [
                        "records": .array(records.map { Self.json(offset: $0.offset, timestamp: $0.timestamp, key: $0.key, value: $0.value,
                                                                  headers: $0.headers, version: $0.version) }),
                        "logStartOffset": .integer(log.logStartOffset), "lastStableOffset": .integer(log.lastStableOffset),
                    ]
                    // The key's next records start after the last one shown.
                    if let last = records.last { page["next"] = .integer(last.offset + 1) }
                    return JSONResponse.ok(.object(page))
                }
                // Neither: the newest, the last `limit` offsets below what committed readers see.
                let from = max(log.logStartOffset, start ?? (log.lastStableOffset - Int64(limit)))
                if from >= log.lastStableOffset {
                    // At or past what committed readers see: nothing yet (a live tail asks from
                    // the end; one past it, after the topic was made again, starts over there).
                    return JSONResponse.ok(.object([
                        "records": .array([]), "next": .integer(min(from, log.lastStableOffset)),
                        "logStartOffset": .integer(log.logStartOffset), "lastStableOffset": .integer(log.lastStableOffset),
                    ]))
                }
                let (records, next) = try await Self.committed(log, from: from, limit: limit)
                return JSONResponse.ok(.object([
                    "records": .array(records.map { Self.json(offset: $0.offset, timestamp: $0.timestamp, key: $0.key, value: $0.value, headers: $0.headers) }),
                    "next": .integer(next),
                    "logStartOffset": .integer(log.logStartOffset), "lastStableOffset": .integer(log.lastStableOffset),
                ]))
            } catch let error as LogError {
                if case .offsetOutOfRange = error { return JSONResponse.problem(.badRequest, "offset out of range", detail: "\(error)") }
                return JSONResponse.problem(.serviceUnavailable, "cannot read \(name)", detail: "\(error)")
            } catch let error as CodecError {
                return JSONResponse.problem(.serviceUnavailable, "damaged data in \(name)", detail: "\(error)")
            }
        }
        router.post("topics/:name/records") { request, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            let body: ByteBuffer
            switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
            case let .success(bytes): body = bytes
            case let .failure(problem): return problem.response
            }
            let usage = "expected {\"value\": \"…\" or null, \"key\"?: \"…\", \"partition\"?: n, \"headers\"?: {\"name\": \"value\"}}"
            guard case let .object(members)? = JSONValue.parse(Array(body.readableBytesView)) else { return JSONResponse.problem(.badRequest, usage) }
            if let unknown = members.keys.first(where: { !["value", "key", "partition", "headers"].contains($0) }) {
                return JSONResponse.problem(.badRequest, "unknown member \(unknown)", detail: usage)
            }
            var value: [UInt8]?
            switch members["value"] {
            case let .string(text)?: value = Array(text.utf8)
            case .null?: value = nil
            default: return JSONResponse.problem(.badRequest, "value must be a string or null", detail: usage)
            }
            var key: [UInt8]?
            switch members["key"] {
            case nil, .null?: key = nil
            case let .string(text)?: key = Array(text.utf8)
            default: return JSONResponse.problem(.badRequest, "key must be a string", detail: usage)
            }
            var headers: [RecordHeader] = []
            if let given = members["headers"] {
                guard case let .object(entries) = given else { return JSONResponse.problem(.badRequest, "headers must be an object of strings") }
                for (header, entry) in entries.sorted(by: { $0.key < $1.key }) {
                    guard case let .string(text) = entry else { return JSONResponse.problem(.badRequest, "header \(header) must be a string") }
                    // Expected versions are checked by the stream routes, not here.
                    if header.hasPrefix("stele.") {
                        return JSONResponse.problem(.badRequest, "header \(header) is reserved", detail: "append events with an expected version through /streams")
                    }
                    headers.append(RecordHeader(key: header, value: Array(text.utf8)))
                }
            }
            guard let topic = broker.topic(name) else {
                if let reason = broker.offlineReason(name) { return JSONResponse.problem(.serviceUnavailable, "topic offline", detail: reason) }
                return JSONResponse.problem(.notFound, "no topic named \(name)")
            }
            if let refusal = Self.refuseInternal(name) { return refusal }
            if topic.config.isActiveMirror {
                return JSONResponse.problem(.conflict, "\(name) is a mirror topic", detail: "only the mirror writes it until it is promoted")
            }
            var index: Int32
            switch members["partition"] {
            case nil, .null?: index = key.map { KafkaPartitioner.partition(forKey: $0, partitions: topic.partitions.count) } ?? 0
            case let .integer(number)? where topic.partitions.indices.contains(Int(clamping: number)): index = Int32(number)
            case let .integer(number)? where number >= 0:
                return JSONResponse.problem(.badRequest, "\(name) has no partition \(number)", detail: "its partitions are 0…\(topic.partitions.count - 1)")
            default: return JSONResponse.problem(.badRequest, "partition must be an integer ≥ 0")
            }
            let now = Date().epochMilliseconds
            var builder = RecordBatchBuilder(baseTimestamp: now)
            builder.append(key: key, value: value, headers: headers, timestamp: now)
            let batch = builder.build()
            let started = ContinuousClock.now
            do {
                let result = try await topic.partitions[Int(index)].append(batch)
                // Written as a Kafka producer writes it, so counted with the Kafka appends.
                broker.metrics.kafkaAppends.record(records: 1, bytes: batch.count, since: started)
                broker.arrivals.notifyAll()
                return JSONResponse.ok(.object(["partition": .integer(Int64(index)), "offset": .integer(result.baseOffset)]), status: .created)
            } catch let error as LogError {
                broker.metrics.kafkaAppends.failures.increment()
                switch error {
                case .invalidBatch, .batchTooLarge, .producerRejected, .wrongExpectedVersion:
                    return JSONResponse.problem(.badRequest, "\(name)-\(index) refused the record", detail: error.description)
                default:
                    return JSONResponse.problem(.serviceUnavailable, "cannot append to \(name)-\(index)", detail: error.description)
                }
            } catch {
                broker.metrics.kafkaAppends.failures.increment()
                return JSONResponse.problem(.serviceUnavailable, "cannot append to \(name)-\(index)", detail: "\(error)")
            }
        }
        router.delete("topics/:name") { _, context in
            let name = try StreamRoutes.pathParameter(context, "name")
            if let refusal = Self.refuseInternal(name) { return refusal }
            do {
                try await broker.deleteTopic(name)
            } catch let error as BrokerError {
                if case .unknownTopicOrPartition = error { return JSONResponse.problem(.notFound, "no topic named \(name)") }
                return JSONResponse.problem(.serviceUnavailable, "cannot delete \(name)", detail: error.description)
            }
            return Response(status: .noContent)
        }
    }

    /// Stele's own topics (`__…`: snapshots, the store's internals) are written and deleted only
    /// by Stele.
    static func refuseInternal(_ name: String) -> Response? {
        guard name.hasPrefix("__") else { return nil }
        return JSONResponse.problem(.forbidden, "\(name) is an internal topic", detail: "Stele writes and keeps its internal topics itself")
    }

    /// The partition a request names (`partition`, 0 by default) of an existing topic. One it
    /// does not have is a bad request (400): the topic, the resource, exists.
    func partition(of name: String, _ text: String?) -> Result<PartitionLog, ProblemResponse> {
        guard let topic = broker.topic(name) else {
            if let reason = broker.offlineReason(name) { return .failure(ProblemResponse(JSONResponse.problem(.serviceUnavailable, "topic offline", detail: reason))) }
            return .failure(ProblemResponse(JSONResponse.problem(.notFound, "no topic named \(name)")))
        }
        guard let index = text.map({ Int($0) }) ?? 0, index >= 0 else {
            return .failure(ProblemResponse(JSONResponse.problem(.badRequest, "partition must be an integer ≥ 0")))
        }
        guard topic.partitions.indices.contains(index) else {
            return .failure(ProblemResponse(JSONResponse.problem(.badRequest, "\(name) has no partition \(index)", detail: "its partitions are 0…\(topic.partitions.count - 1)")))
        }
        return .success(topic.partitions[index])
    }

    /// Up to `limit` committed records from `start` (aborted transactions and markers left
    /// out, nothing past the last stable offset), and the offset to read next.
    static func committed(_ log: PartitionLog, from start: Int64, limit: Int) async throws -> ([CommittedRecord], Int64) {
        var records: [CommittedRecord] = []
        var position = start
        var bytes = 0
        // Batches read, kept or not: a long run of aborted transactions ends a read too.
        var scanned = 0
        while records.count < limit && bytes < maxReadBytes && scanned < maxScanBytes {
            let read = try await log.read(from: position, maxBytes: 1 << 20, isolation: .readCommitted)
            scanned += read.batches.count
            let aborted = read.abortedTransactions.map { (producerId: $0.producerId, firstOffset: $0.firstOffset) }
            let (found, next) = try CommittedRecords.extract(read.batches, abortedTransactions: aborted, from: position, decompressor: KafkaCodecs())
            guard let next, next > position else { break }
            for record in found.prefix(limit - records.count) {
                records.append(record)
                bytes += record.size
            }
            position = records.count == limit ? records[records.count - 1].offset + 1 : next
        }
        return (records, position)
    }

    /// Up to `limit` committed records with `key` at offsets from `start`, oldest first (the key
    /// index gives the stream; its versions are read a page at a time).
    static func keyed(_ log: PartitionLog, key: [UInt8], from start: Int64, limit: Int) async throws -> [StreamRecord] {
        // Records DeleteRecords removed stay in their segment until it goes: never shown.
        let from = max(start, log.logStartOffset)
        var found: [StreamRecord] = []
        var version: Int64 = 0
        var bytes = 0
        while found.count < limit && bytes < maxReadBytes {
            let page = try await log.readStream(key: key, fromVersion: version, maxRecords: 100)
            guard let last = page.last else { break }
            for record in page where record.offset >= from && found.count < limit {
                found.append(record)
                bytes += record.key.count + (record.value?.count ?? 0)
            }
            version = last.version + 1
        }
        return found
    }

    /// A record as JSON: text as text, other bytes as base64 (`keyBase64`, `valueBase64`).
    static func json(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader], version: Int64? = nil) -> JSONValue {
        var members: [String: JSONValue] = ["offset": .integer(offset), "timestamp": .integer(timestamp)]
        if let version { members["version"] = .integer(version) }
        for (name, bytes) in [("key", key), ("value", value)] {
            guard let bytes else { members[name] = .null; continue }
            if let text = String(validating: bytes, as: UTF8.self) { members[name] = .string(text) } else {
                members[name + "Base64"] = .string(Data(bytes).base64EncodedString())
            }
        }
        members["headers"] = .array(headers.map { header in
            var entry: [String: JSONValue] = ["key": .string(header.key)]
            if let bytes = header.value, let text = String(validating: bytes, as: UTF8.self) { entry["value"] = .string(text) }
            else if let bytes = header.value { entry["valueBase64"] = .string(Data(bytes).base64EncodedString()) }
            else { entry["value"] = .null }
            return .object(entry)
        })
        return .object(members)
    }
}
