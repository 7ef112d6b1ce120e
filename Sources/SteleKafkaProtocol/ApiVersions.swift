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
        encoder.taggedFields()
    }
}
