/// ApiVersions (key 18). Always answered with a v0 response header; the body of v3+ is flexible.
public struct ApiVersionsRequest: Sendable, Equatable {
    public var clientSoftwareName: String?
    public var clientSoftwareVersion: String?

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var request = Self()
        if version >= 3 {
            request.clientSoftwareName = try decoder.string("client software name")
            request.clientSoftwareVersion = try decoder.string("client software version")
            try decoder.taggedFields()
        }
        return request
    }
}

public struct ApiVersionsResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode = .none
    public var apiKeys: [(key: Int16, min: Int16, max: Int16)] = ApiKey.allCases.map {
        ($0.rawValue, $0.supportedVersions.lowerBound, $0.supportedVersions.upperBound)
    }

    public init(errorCode: KafkaErrorCode = .none) { self.errorCode = errorCode }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.errorCode == rhs.errorCode && lhs.apiKeys.elementsEqual(rhs.apiKeys) { $0 == $1 }
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int16(errorCode.rawValue)
        encoder.array(apiKeys) { encoder, api in
            encoder.int16(api.key)
            encoder.int16(api.min)
            encoder.int16(api.max)
            encoder.taggedFields()
        }
        if version >= 1 { encoder.int32(0) }
        guard errorCode == .none else { return encoder.taggedFields() }
        // Features, from v3 (tagged): what this broker supports and has finalized. Before v4 a
        // supported feature whose minimum is 0 is left out (KAFKA-17011: older clients refuse
        // a minimum of 0); the finalized levels are what clients act on.
        let supported = Self.features.filter { version >= 4 || $0.min > 0 }
        encoder.taggedFields([
            (0, { encoder in
                encoder.array(supported) { encoder, feature in
                    encoder.string(feature.name)
                    encoder.int16(feature.min)
                    encoder.int16(feature.max)
                    encoder.taggedFields()
                }
            }),
            (1, { encoder in encoder.int64(Self.finalizedFeaturesEpoch) }),
            (2, { encoder in
                encoder.array(Self.features) { encoder, feature in
                    encoder.string(feature.name)
                    encoder.int16(feature.finalized)
                    encoder.int16(feature.finalized)
                    encoder.taggedFields()
                }
            }),
        ])
    }

    /// A feature (KIP-584) and the level this broker runs it at.
    public struct Feature: Sendable, Equatable {
        public var name: String
        public var min: Int16
        public var max: Int16
        public var finalized: Int16
    }

    /// `transaction.version` 2 (KIP-890 part 2): clients that know it bump the producer epoch at
    /// every transaction end (EndTxn v5) and let Produce v12 and TxnOffsetCommit v5 add to the
    /// transaction. Levels 0 and 1 (the older protocol) stay supported: the broker tells them
    /// apart by each request's version, as Kafka does.
    public static let features = [Feature(name: "transaction.version", min: 0, max: 2, finalized: 2)]

    /// Clients re-read finalized features only when this epoch grows past the last they saw
    /// (starting from -1), so it must be at least 0 for them to be read at all. The features of
    /// a single node never change while it runs.
    public static let finalizedFeaturesEpoch: Int64 = 1
}
