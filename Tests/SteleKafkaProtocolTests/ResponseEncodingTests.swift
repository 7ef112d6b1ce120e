import NIOCore
import Testing
@testable import SteleKafkaProtocol

/// Response layouts checked byte by byte where the protocol has traps (kafka-protocol.md §0).
@Suite("Response encoding")
struct ResponseEncodingTests {
    static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    @Test func apiVersionsV3KeepsAV0HeaderAndAFlexibleBody() {
        let frame = Self.bytes(ResponseFrame.encode(correlationId: 7, api: .apiVersions, version: 3, allocator: .init()) {
            ApiVersionsResponse().encode(&$0, version: 3)
        })
        // size, correlation id, then straight into the body: no header tag section.
        #expect(Array(frame[4..<8]) == [0, 0, 0, 7])
        #expect(Array(frame[8..<10]) == [0, 0], "error code follows the correlation id directly")
        #expect(frame[10] == UInt8(ApiKey.allCases.count + 1), "compact array length is count + 1")
        #expect(frame.last == 0, "empty tagged fields end the body")
        #expect(Int(Int32(bigEndian: frame.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })) == frame.count - 4)
    }

    /// The features section (tags 0–2) read back field by field: `transaction.version` 2
    /// finalized (KIP-890 part 2), its supported range shown from v4 only (minimum 0,
    /// KAFKA-17011), and a finalized epoch clients will read (they skip -1).
    @Test(arguments: [Int16(3), 4])
    func apiVersionsNamesTransactionVersion2(version: Int16) throws {
        var encoder = KafkaEncoder(ByteBuffer(), flexible: true)
        ApiVersionsResponse().encode(&encoder, version: version)
        var decoder = KafkaDecoder(encoder.buffer, flexible: true)
        #expect(try decoder.int16() == 0)
        _ = try decoder.array("api keys") { decoder in
            (try decoder.int16(), try decoder.int16(), try decoder.int16(), try decoder.taggedFields())
        }
        _ = try decoder.int32("throttle")
        #expect(try decoder.unsignedVarint("tag count") == 3)
        var fields: [UInt32: KafkaDecoder] = [:]
        for _ in 0..<3 {
            let tag = try decoder.unsignedVarint("tag")
            let size = Int(try decoder.unsignedVarint("size"))
            let slice = decoder.buffer.readSlice(length: size)
            fields[tag] = KafkaDecoder(try #require(slice), flexible: true)
        }
        #expect(decoder.buffer.readableBytes == 0)
        func features(_ tag: UInt32) throws -> [(String, Int16, Int16)] {
            var field = try #require(fields[tag])
            return try field.array("features") { decoder in
                let feature = (try decoder.string(), try decoder.int16(), try decoder.int16())
                try decoder.taggedFields()
                return feature
            }
        }
        let supported = try features(0)
        #expect(supported.map(\.0) == (version >= 4 ? ["transaction.version"] : []))
        if version >= 4 { #expect(supported[0].1 == 0 && supported[0].2 == 2) }
        var epoch = try #require(fields[1])
        #expect(try epoch.int64() >= 0)
        let finalized = try features(2)
        #expect(finalized.count == 1 && finalized[0].0 == "transaction.version" && finalized[0].1 == 2 && finalized[0].2 == 2)
    }

    @Test func endTxnV5NamesTheProducerItContinuesWith() throws {
        var encoder = KafkaEncoder(ByteBuffer(), flexible: true)
        EndTxnResponse(errorCode: .none, producerId: 42, producerEpoch: 7).encode(&encoder, version: 5)
        #expect(Self.bytes(encoder.buffer) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 7, 0])
        var v4 = KafkaEncoder(ByteBuffer(), flexible: true)
        EndTxnResponse(errorCode: .none, producerId: 42, producerEpoch: 7).encode(&v4, version: 4)
        #expect(Self.bytes(v4.buffer) == [0, 0, 0, 0, 0, 0, 0])
    }

    @Test func unsupportedApiVersionsIsAnsweredInAV0Body() {
        let frame = Self.bytes(ResponseFrame.encode(correlationId: 1, api: .apiVersions, version: 0, allocator: .init()) {
            ApiVersionsResponse(errorCode: .unsupportedVersion).encode(&$0, version: 0)
        })
        #expect(Array(frame[8..<10]) == [0, 35])
        #expect(Array(frame[10..<14]) == [0, 0, 0, UInt8(ApiKey.allCases.count)], "classic int32 array length")
        #expect(frame.count == 4 + 4 + 2 + 4 + ApiKey.allCases.count * 6, "no throttle time in v0")
    }

    @Test func advertisedRangesSatisfyLibrdkafkaFeatureChecks() {
        let ranges = Dictionary(uniqueKeysWithValues: ApiKey.allCases.map { ($0, $0.supportedVersions) })
        #expect(ranges[.apiVersions]!.contains(0))
        #expect(ranges[.produce]!.contains(0) && ranges[.produce]!.contains(3) && ranges[.produce]!.contains(7))
        #expect(ranges[.fetch]!.contains(4) && ranges[.fetch]!.contains(10))
        #expect(ranges[.listOffsets]!.contains(1) && ranges[.listOffsets]!.lowerBound <= 3, "aiokafka needs ≤ 3")
        // Every API with flexible versions (compact encodings, tagged fields) advertises at least
        // one, so a current client runs at the version it prefers instead of negotiating down
        // (issue 16). Only OffsetDelete and SaslHandshake have none.
        for api in ApiKey.allCases {
            if api.firstFlexibleVersion == Int16.max {
                #expect([.offsetDelete, .saslHandshake].contains(api), "\(api) has no flexible version")
            } else {
                #expect(api.isFlexible(ranges[api]!.upperBound), "\(api) does not advertise its flexible versions")
            }
        }
    }

    /// A classic string's length is an int16: a longer one (an error message quoting what a
    /// flexible request sent) is cut at 32,767 bytes, on a character boundary, never a trap.
    @Test func aClassicStringIsCutAtItsLengthLimit() throws {
        let long = String(repeating: "é", count: 20_000) // 40,000 bytes
        var classic = KafkaEncoder(ByteBuffer(), flexible: false)
        classic.nullableString(long)
        let length = Int(classic.buffer.getInteger(at: 0, as: Int16.self)!)
        #expect(length == 32_766, "the last whole two-byte character that fits")
        #expect(classic.buffer.readableBytes == 2 + length)
        #expect(String(validating: classic.buffer.getBytes(at: 2, length: length)!, as: UTF8.self) != nil)
        var flexible = KafkaEncoder(ByteBuffer(), flexible: true)
        flexible.nullableString(long)
        var decoder = KafkaDecoder(flexible.buffer, flexible: true)
        #expect(try decoder.nullableString() == long, "a compact string carries it whole")
    }

    @Test func produceResponsePutsThrottleTimeLast() {
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        ProduceResponse(topics: [("t", [.init(index: 0, errorCode: .none, baseOffset: 5, logAppendTimeMs: -1, logStartOffset: 0)])])
            .encode(&encoder, version: 7)
        let bytes = Self.bytes(encoder.buffer)
        // topics[1]: "t", partitions[1]: index 0, error 0, base 5, append time -1, start 0; then throttle 0.
        let expected: [UInt8] = [0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
            + [0, 0, 0, 0, 0, 0, 0, 5] + [UInt8](repeating: 0xFF, count: 8) + [UInt8](repeating: 0, count: 8) + [0, 0, 0, 0]
        #expect(bytes == expected)
    }

    @Test func produceV8CarriesRecordErrorsAndTheMessage() {
        var encoder = KafkaEncoder(ByteBuffer(), flexible: false)
        ProduceResponse(topics: [("t", [.init(index: 0, errorCode: .invalidRecord, errorMessage: "m",
                                              recordErrors: [.init(batchIndex: 2, message: "e")])])])
            .encode(&encoder, version: 8)
        let bytes = Self.bytes(encoder.buffer)
        // … error 87, base -1, append time -1, start -1, record_errors[1] = (2, "e"), error_message "m", throttle 0.
        let expected: [UInt8] = [0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 1, 0, 0, 0, 0, 0, 87]
            + [UInt8](repeating: 0xFF, count: 24) + [0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0x65] + [0, 1, 0x6D] + [0, 0, 0, 0]
        #expect(bytes == expected)
    }

    @Test func compactEncodingsRoundTrip() throws {
        var encoder = KafkaEncoder(ByteBuffer(), flexible: true)
        encoder.nullableString(nil)
        encoder.string("stele")
        encoder.array([1, 2, 3] as [Int32]) { $0.int32($1) }
        encoder.unsignedVarint(300)
        encoder.taggedFields()
        #expect(Self.bytes(encoder.buffer).prefix(7) == [0, 6, 0x73, 0x74, 0x65, 0x6C, 0x65])
        var decoder = KafkaDecoder(encoder.buffer, flexible: true)
        #expect(try decoder.nullableString() == nil)
        #expect(try decoder.string() == "stele")
        #expect(try decoder.array("ints") { try $0.int32() } == [1, 2, 3])
        #expect(try decoder.unsignedVarint() == 300)
        try decoder.taggedFields()
        #expect(decoder.remaining == 0)
    }

    @Test func hostileCountsAreRefusedBeforeAllocating() {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32.max)
        var decoder = KafkaDecoder(buffer, flexible: false)
        #expect(throws: KafkaProtocolError.self) { try decoder.array("x") { try $0.int32() } }
        var tags = KafkaDecoder(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), flexible: true)
        #expect(throws: KafkaProtocolError.self) { try tags.taggedFields() }
    }

    /// SaslAuthenticate's bytes in the classic (v0–1) and flexible (v2) encodings, as AK's
    /// SaslAuthenticateResponse.json lays them out.
    @Test func saslAuthenticateResponsesInEveryVersion() {
        let response = SaslAuthenticateResponse(errorCode: .saslAuthenticationFailed, errorMessage: "no", authBytes: [7], sessionLifetimeMs: 5)
        func body(_ version: Int16) -> [UInt8] {
            let frame = ResponseFrame.encode(correlationId: 9, api: .saslAuthenticate, version: version, allocator: ByteBufferAllocator()) {
                response.encode(&$0, version: version)
            }
            return Array(frame.readableBytesView.dropFirst(8))
        }
        #expect(body(0) == [0, 58, 0, 2, 110, 111, 0, 0, 0, 1, 7])
        #expect(body(1) == [0, 58, 0, 2, 110, 111, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 5])
        // v2: response header v1 (empty tagged fields), compact string and bytes (length + 1), tagged fields.
        #expect(body(2) == [0, 0, 58, 3, 110, 111, 2, 7, 0, 0, 0, 0, 0, 0, 0, 5, 0])
    }

    /// DescribeAcls groups ACLs by resource; v0 has no pattern type, v2 is flexible (AK's
    /// DescribeAclsResponse.json).
    @Test func describeAclsResponsesGroupByResource() {
        let acl = AclFields(resourceType: 2, resourceName: "t", patternType: 3, principal: "User:a", host: "*", operation: 4, permission: 3)
        var other = acl
        other.operation = 3
        let response = DescribeAclsResponse(errorCode: .none, acls: [acl, other])
        func body(_ version: Int16) -> [UInt8] {
            let frame = ResponseFrame.encode(correlationId: 9, api: .describeAcls, version: version, allocator: ByteBufferAllocator()) {
                response.encode(&$0, version: version)
            }
            return Array(frame.readableBytesView.dropFirst(8))
        }
        let principal: [UInt8] = [85, 115, 101, 114, 58, 97]
        // throttle, error 0, null message, 1 resource: type 2, "t", [pattern 3], 2 acls.
        #expect(body(0) == [0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 1, 2, 0, 1, 116, 0, 0, 0, 2]
            + [0, 6] + principal + [0, 1, 42, 4, 3] + [0, 6] + principal + [0, 1, 42, 3, 3])
        #expect(body(1) == [0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 1, 2, 0, 1, 116, 3, 0, 0, 0, 2]
            + [0, 6] + principal + [0, 1, 42, 4, 3] + [0, 6] + principal + [0, 1, 42, 3, 3])
        #expect(body(2) == [0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 116, 3, 3]
            + [7] + principal + [2, 42, 4, 3, 0] + [7] + principal + [2, 42, 3, 3, 0] + [0, 0])
    }

    /// CreateAcls v1 (classic) and v2 (flexible) requests, as kafka-python and librdkafka send them.
    @Test func createAclsRequestsDecodeInBothEncodings() throws {
        let principal: [UInt8] = [85, 115, 101, 114, 58, 97]
        var classic = KafkaDecoder(ByteBuffer(bytes: [0, 0, 0, 1, 2, 0, 1, 116, 4, 0, 6] + principal + [0, 1, 42, 4, 3]), flexible: false)
        let v1 = try CreateAclsRequest.decode(&classic, version: 1)
        let expected = AclFields(resourceType: 2, resourceName: "t", patternType: 4, principal: "User:a", host: "*", operation: 4, permission: 3)
        #expect(v1.creations == [expected])
        var flexible = KafkaDecoder(ByteBuffer(bytes: [2, 2, 2, 116, 4, 7] + principal + [2, 42, 4, 3, 0, 0]), flexible: true)
        #expect(try CreateAclsRequest.decode(&flexible, version: 2).creations == [expected])
        var v0 = KafkaDecoder(ByteBuffer(bytes: [0, 0, 0, 1, 2, 0, 1, 116, 0, 6] + principal + [0, 1, 42, 4, 3]), flexible: false)
        #expect(try CreateAclsRequest.decode(&v0, version: 0).creations.first?.patternType == 3, "v0 creates LITERAL ACLs")
    }
}
