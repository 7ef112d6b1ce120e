import NIOCore

/// The header of every request: v1 for classic versions, v2 (v1 plus tagged fields) for
/// flexible ones. The client id keeps its int16 length even in v2 (AK `RequestHeader.json`),
/// so any broker can read the header of an ApiVersions request of any version.
public struct RequestHeader: Sendable, Equatable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationId: Int32, clientId: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationId = correlationId
        self.clientId = clientId
    }

    /// Reads the fixed part (key, version, correlation id), which every request has whatever
    /// its version: enough to answer an unsupported ApiVersions request or to close politely.
    public static func peek(_ frame: ByteBuffer) -> (apiKey: Int16, apiVersion: Int16, correlationId: Int32)? {
        guard let key = frame.getInteger(at: frame.readerIndex, as: Int16.self),
              let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self),
              let correlation = frame.getInteger(at: frame.readerIndex + 4, as: Int32.self) else { return nil }
        return (key, version, correlation)
    }

    /// Decodes the header of a supported API; the decoder is left at the start of the body.
    public static func decode(_ frame: ByteBuffer) throws -> (RequestHeader, ApiKey, KafkaDecoder) {
        var classic = KafkaDecoder(frame, flexible: false)
        let key = try classic.int16("api key")
        let version = try classic.int16("api version")
        let correlation = try classic.int32("correlation id")
        let clientId = try classic.classicNullableString("client id")
        guard let api = ApiKey(rawValue: key) else { throw KafkaProtocolError.unknownApiKey(key) }
        guard api.supportedVersions.contains(version) else { throw KafkaProtocolError.unsupportedVersion(apiKey: key, version: version) }
        var body = KafkaDecoder(classic.buffer, flexible: api.isFlexible(version))
        try body.taggedFields()
        return (RequestHeader(apiKey: key, apiVersion: version, correlationId: correlation, clientId: clientId), api, body)
    }
}

/// Frames a response: int32 size, correlation id, a tagged-field section for flexible
/// versions (except ApiVersions, whose response header is always v0), then the body.
public enum ResponseFrame {
    public static func encode(correlationId: Int32, api: ApiKey, version: Int16, allocator: ByteBufferAllocator,
                              body: (inout KafkaEncoder) -> Void) -> ByteBuffer {
        let flexibleBody = api.isFlexible(version)
        var encoder = KafkaEncoder(allocator.buffer(capacity: 256), flexible: flexibleBody)
        encoder.int32(0) // size, patched below
        encoder.int32(correlationId)
        if flexibleBody && api != .apiVersions { encoder.unsignedVarint(0) }
        body(&encoder)
        var buffer = encoder.buffer
        // A frame's size is an Int32. Requests that could build more are answered in parts or
        // refused before this; should one get here, the client gets a frame it cannot read
        // (and closes the connection) rather than the server trapping.
        guard let size = Int32(exactly: buffer.readableBytes - 4) else {
            var cut = allocator.buffer(capacity: 8)
            cut.writeInteger(Int32(4))
            cut.writeInteger(correlationId)
            return cut
        }
        buffer.setInteger(size, at: buffer.readerIndex)
        return buffer
    }
}
