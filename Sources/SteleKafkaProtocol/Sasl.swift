import NIOCore

/// SaslHandshake (key 17, v0–1, never flexible): the client names its mechanism; the answer
/// lists those the listener enables. After v1 the SASL messages travel in SaslAuthenticate
/// requests; after v0 as bare size-prefixed tokens (kafka-python 2.0, aiokafka).
public struct SaslHandshakeRequest: Sendable, Equatable {
    public var mechanism: String

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        Self(mechanism: try decoder.string("mechanism"))
    }
}

public struct SaslHandshakeResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var mechanisms: [String]

    public init(errorCode: KafkaErrorCode, mechanisms: [String]) {
        self.errorCode = errorCode
        self.mechanisms = mechanisms
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int16(errorCode.rawValue)
        encoder.array(mechanisms) { $0.string($1) }
    }
}

/// SaslAuthenticate (key 36, v0–2; flexible from v2): one SASL message each way. v1 adds the
/// session lifetime (KIP-368): 0 means the authentication holds for the connection's life.
public struct SaslAuthenticateRequest: Sendable, Equatable {
    public var authBytes: [UInt8]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        var bytes = try decoder.bytes("auth bytes")
        let request = Self(authBytes: bytes.readBytes(length: bytes.readableBytes) ?? [])
        if version >= 2 { try decoder.taggedFields() }
        return request
    }
}

public struct SaslAuthenticateResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var authBytes: [UInt8]
    public var sessionLifetimeMs: Int64

    public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, authBytes: [UInt8] = [], sessionLifetimeMs: Int64 = 0) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.authBytes = authBytes
        self.sessionLifetimeMs = sessionLifetimeMs
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.nullableBytes(authBytes)
        if version >= 1 { encoder.int64(sessionLifetimeMs) }
        encoder.taggedFields()
    }
}
