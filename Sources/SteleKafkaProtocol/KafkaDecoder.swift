import NIOCore

/// Why a Kafka request could not be decoded. The connection that sent it is answered with an
/// error where the protocol allows it, or closed.
public enum KafkaProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(String)
    case invalid(String)
    case unsupportedVersion(apiKey: Int16, version: Int16)
    case unknownApiKey(Int16)

    public var description: String {
        switch self {
        case let .truncated(what): "request truncated while reading \(what)"
        case let .invalid(what): "malformed request: \(what)"
        case let .unsupportedVersion(key, version): "unsupported version \(version) of API \(key)"
        case let .unknownApiKey(key): "unknown API key \(key)"
        }
    }
}

/// Reads Kafka's primitive types (protocol guide, KIP-482 for compact forms) from a buffer.
/// Every read checks the remaining length and every count is bounded by the bytes left, so a
/// hostile length cannot make the broker allocate or loop beyond what was sent.
public struct KafkaDecoder {
    public var buffer: ByteBuffer
    /// Whether this message version uses the compact/tagged (flexible) encodings.
    public let flexible: Bool

    public init(_ buffer: ByteBuffer, flexible: Bool) {
        self.buffer = buffer
        self.flexible = flexible
    }

    public var remaining: Int { buffer.readableBytes }

    public mutating func int8(_ what: String = "int8") throws -> Int8 {
        guard let value = buffer.readInteger(as: Int8.self) else { throw KafkaProtocolError.truncated(what) }
        return value
    }

    public mutating func int16(_ what: String = "int16") throws -> Int16 {
        guard let value = buffer.readInteger(as: Int16.self) else { throw KafkaProtocolError.truncated(what) }
        return value
    }

    public mutating func int32(_ what: String = "int32") throws -> Int32 {
        guard let value = buffer.readInteger(as: Int32.self) else { throw KafkaProtocolError.truncated(what) }
        return value
    }

    public mutating func int64(_ what: String = "int64") throws -> Int64 {
        guard let value = buffer.readInteger(as: Int64.self) else { throw KafkaProtocolError.truncated(what) }
        return value
    }

    public mutating func float64(_ what: String = "float64") throws -> Double {
        guard let bits = buffer.readInteger(as: UInt64.self) else { throw KafkaProtocolError.truncated(what) }
        return Double(bitPattern: bits)
    }

    public mutating func bool(_ what: String = "bool") throws -> Bool {
        try int8(what) != 0
    }

    public mutating func uuid(_ what: String = "uuid") throws -> [UInt8] {
        guard let bytes = buffer.readBytes(length: 16) else { throw KafkaProtocolError.truncated(what) }
        return bytes
    }

    /// An unsigned LEB128 varint (KIP-482), at most 5 bytes.
    public mutating func unsignedVarint(_ what: String = "varint") throws -> UInt32 {
        var result: UInt32 = 0
        for shift in stride(from: 0, to: 35, by: 7) {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw KafkaProtocolError.truncated(what) }
            result |= UInt32(byte & 0x7F) << UInt32(shift)
            if byte & 0x80 == 0 { return result }
        }
        throw KafkaProtocolError.invalid("\(what): varint longer than 5 bytes")
    }

    /// Length of a string/bytes/array: int16/int32 classic, or compact (varint of length + 1).
    /// Returns nil for null.
    private mutating func length(_ what: String, classicInt16: Bool) throws -> Int? {
        let length: Int
        if flexible {
            let raw = try unsignedVarint(what)
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else if classicInt16 {
            length = Int(try int16(what))
        } else {
            length = Int(try int32(what))
        }
        if length < 0 {
            guard length == -1 else { throw KafkaProtocolError.invalid("\(what): negative length \(length)") }
            return nil
        }
        return length
    }

    public mutating func nullableString(_ what: String = "string") throws -> String? {
        guard let length = try length(what, classicInt16: true) else { return nil }
        guard let string = buffer.readString(length: length) else { throw KafkaProtocolError.truncated(what) }
        return string
    }

    public mutating func string(_ what: String = "string") throws -> String {
        guard let string = try nullableString(what) else { throw KafkaProtocolError.invalid("\(what) is null") }
        return string
    }

    /// A classic int16-length string even in flexible versions (the request header's client id).
    public mutating func classicNullableString(_ what: String) throws -> String? {
        let length = Int(try int16(what))
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaProtocolError.invalid("\(what): negative length") }
        guard let string = buffer.readString(length: length) else { throw KafkaProtocolError.truncated(what) }
        return string
    }

    public mutating func nullableBytes(_ what: String = "bytes") throws -> ByteBuffer? {
        guard let length = try length(what, classicInt16: false) else { return nil }
        guard let slice = buffer.readSlice(length: length) else { throw KafkaProtocolError.truncated(what) }
        return slice
    }

    public mutating func bytes(_ what: String = "bytes") throws -> ByteBuffer {
        guard let bytes = try nullableBytes(what) else { throw KafkaProtocolError.invalid("\(what) is null") }
        return bytes
    }

    /// An array; `nil` when null. Each element must consume at least one byte, so the count
    /// is checked against the bytes left before anything is allocated.
    public mutating func nullableArray<T>(_ what: String, _ element: (inout KafkaDecoder) throws -> T) throws -> [T]? {
        guard let count = try length(what, classicInt16: false) else { return nil }
        guard count <= remaining else { throw KafkaProtocolError.invalid("\(what): \(count) elements in \(remaining) bytes") }
        var elements: [T] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try element(&self)) }
        return elements
    }

    public mutating func array<T>(_ what: String, _ element: (inout KafkaDecoder) throws -> T) throws -> [T] {
        try nullableArray(what, element) ?? []
    }

    /// Skips a tagged-field section (flexible versions only): no tag is understood yet.
    public mutating func taggedFields() throws {
        guard flexible else { return }
        let count = try unsignedVarint("tagged field count")
        guard count <= remaining else { throw KafkaProtocolError.invalid("\(count) tagged fields in \(remaining) bytes") }
        for _ in 0..<count {
            _ = try unsignedVarint("tag")
            let size = Int(try unsignedVarint("tag size"))
            guard buffer.readSlice(length: size) != nil else { throw KafkaProtocolError.truncated("tagged field") }
        }
    }
}
