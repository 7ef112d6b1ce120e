/// DescribeClientQuotas (48) and AlterClientQuotas (49), v0–1 (flexible from v1): Kafka's
/// client quotas. An entity is a list of (type, name) components; a null name is the default.

public struct QuotaEntityComponent: Sendable, Equatable {
    public var entityType: String
    public var entityName: String?

    public init(entityType: String, entityName: String?) { (self.entityType, self.entityName) = (entityType, entityName) }

    static func decode(_ decoder: inout KafkaDecoder) throws -> Self {
        let type = try decoder.string("entity type")
        let name = try decoder.nullableString("entity name")
        try decoder.taggedFields()
        return Self(entityType: type, entityName: name)
    }

    func encode(_ encoder: inout KafkaEncoder) {
        encoder.string(entityType)
        encoder.nullableString(entityName)
        encoder.taggedFields()
    }
}

public struct DescribeClientQuotasRequest: Sendable, Equatable {
    public struct Component: Sendable, Equatable {
        public var entityType: String
        /// 0 exact name, 1 the default, 2 any.
        public var matchType: Int8
        public var match: String?
    }

    public var components: [Component]
    public var strict: Bool

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let components = try decoder.array("components") { decoder in
            let type = try decoder.string("entity type")
            let matchType = try decoder.int8("match type")
            let match = try decoder.nullableString("match")
            try decoder.taggedFields()
            return Component(entityType: type, matchType: matchType, match: match)
        }
        let strict = try decoder.bool("strict")
        try decoder.taggedFields()
        return Self(components: components, strict: strict)
    }
}

public struct DescribeClientQuotasResponse: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var entity: [QuotaEntityComponent]
        public var values: [(key: String, value: Double)]

        public init(entity: [QuotaEntityComponent], values: [(key: String, value: Double)]) { (self.entity, self.values) = (entity, values) }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.entity == rhs.entity && lhs.values.map(\.key) == rhs.values.map(\.key) && lhs.values.map(\.value) == rhs.values.map(\.value)
        }
    }

    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    /// nil with an error.
    public var entries: [Entry]?

    public init(errorCode: KafkaErrorCode = .none, errorMessage: String? = nil, entries: [Entry]?) {
        (self.errorCode, self.errorMessage, self.entries) = (errorCode, errorMessage, entries)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.array(entries) { encoder, entry in
            encoder.array(entry.entity) { encoder, component in component.encode(&encoder) }
            encoder.array(entry.values) { encoder, value in
                encoder.string(value.key)
                encoder.float64(value.value)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct AlterClientQuotasRequest: Sendable, Equatable {
    public struct Operation: Sendable, Equatable {
        public var key: String
        public var value: Double
        public var remove: Bool
    }

    public struct Entry: Sendable, Equatable {
        public var entity: [QuotaEntityComponent]
        public var operations: [Operation]
    }

    public var entries: [Entry]
    public var validateOnly: Bool

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let entries = try decoder.array("entries") { decoder in
            let entity = try decoder.array("entity") { try QuotaEntityComponent.decode(&$0) }
            let operations = try decoder.array("ops") { decoder in
                let key = try decoder.string("key")
                let value = try decoder.float64("value")
                let remove = try decoder.bool("remove")
                try decoder.taggedFields()
                return Operation(key: key, value: value, remove: remove)
            }
            try decoder.taggedFields()
            return Entry(entity: entity, operations: operations)
        }
        let validateOnly = try decoder.bool("validate only")
        try decoder.taggedFields()
        return Self(entries: entries, validateOnly: validateOnly)
    }
}

public struct AlterClientQuotasResponse: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var entity: [QuotaEntityComponent]

        public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, entity: [QuotaEntityComponent]) {
            (self.errorCode, self.errorMessage, self.entity) = (errorCode, errorMessage, entity)
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(entries) { encoder, entry in
            encoder.int16(entry.errorCode.rawValue)
            encoder.nullableString(entry.errorMessage)
            encoder.array(entry.entity) { encoder, component in component.encode(&encoder) }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
