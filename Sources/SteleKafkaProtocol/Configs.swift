/// DescribeConfigs (32, v0–4), AlterConfigs (33, v0–2) and IncrementalAlterConfigs (44, v0–1):
/// the configs of topics (resource type 2) and brokers (4). Flexible from v4, v2 and v1.

/// Kafka's config resource types (`ConfigResource.Type`).
public enum ConfigResourceType: Int8, Sendable {
    case topic = 2
    case broker = 4
    case brokerLogger = 8
}

public struct DescribeConfigsRequest: Sendable, Equatable {
    public struct Resource: Sendable, Equatable {
        public var type: Int8
        public var name: String
        /// nil: every config.
        public var keys: [String]?
    }

    public var resources: [Resource]
    public var includeSynonyms: Bool
    public var includeDocumentation: Bool

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let resources = try decoder.array("resources") { decoder in
            let type = try decoder.int8("resource type")
            let name = try decoder.string("resource name")
            let keys = try decoder.nullableArray("configuration keys") { try $0.string("configuration key") }
            try decoder.taggedFields()
            return Resource(type: type, name: name, keys: keys)
        }
        let synonyms = version >= 1 ? try decoder.bool("include synonyms") : false
        let documentation = version >= 3 ? try decoder.bool("include documentation") : false
        try decoder.taggedFields()
        return Self(resources: resources, includeSynonyms: synonyms, includeDocumentation: documentation)
    }
}

public struct DescribeConfigsResponse: Sendable, Equatable {
    public struct Synonym: Sendable, Equatable {
        public var name: String
        public var value: String?
        public var source: Int8

        public init(name: String, value: String?, source: Int8) { (self.name, self.value, self.source) = (name, value, source) }
    }

    public struct Config: Sendable, Equatable {
        public var name: String
        public var value: String?
        public var readOnly: Bool
        /// Kafka's ConfigSource (1 topic, 4 static broker, 5 default); v0 reports `isDefault`.
        public var source: Int8
        public var isSensitive: Bool
        public var synonyms: [Synonym]
        /// Kafka's ConfigType (v3+).
        public var type: Int8
        public var documentation: String?

        public init(name: String, value: String?, readOnly: Bool, source: Int8, isSensitive: Bool = false,
                    synonyms: [Synonym] = [], type: Int8 = 0, documentation: String? = nil) {
            self.name = name
            self.value = value
            self.readOnly = readOnly
            self.source = source
            self.isSensitive = isSensitive
            self.synonyms = synonyms
            self.type = type
            self.documentation = documentation
        }
    }

    public struct Result: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var resourceType: Int8
        public var resourceName: String
        public var configs: [Config]

        public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, resourceType: Int8, resourceName: String, configs: [Config] = []) {
            self.errorCode = errorCode
            self.errorMessage = errorMessage
            self.resourceType = resourceType
            self.resourceName = resourceName
            self.configs = configs
        }
    }

    public var results: [Result]

    public init(results: [Result]) { self.results = results }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.int8(result.resourceType)
            encoder.string(result.resourceName)
            encoder.array(result.configs) { encoder, config in
                encoder.string(config.name)
                encoder.nullableString(config.value)
                encoder.bool(config.readOnly)
                // v0 has no source: "is default" is what it had.
                if version == 0 { encoder.bool(config.source == 5) } else { encoder.int8(config.source) }
                encoder.bool(config.isSensitive)
                if version >= 1 {
                    encoder.array(config.synonyms) { encoder, synonym in
                        encoder.string(synonym.name)
                        encoder.nullableString(synonym.value)
                        encoder.int8(synonym.source)
                        encoder.taggedFields()
                    }
                }
                if version >= 3 {
                    encoder.int8(config.type)
                    encoder.nullableString(config.documentation)
                }
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

/// AlterConfigs and IncrementalAlterConfigs share one request shape; the incremental one adds
/// an operation per config (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT). A legacy AlterConfigs
/// request is decoded with every operation SET: it replaces a resource's whole set of overrides.
public struct AlterConfigsRequest: Sendable, Equatable {
    public struct Change: Sendable, Equatable {
        public var name: String
        public var operation: Int8
        public var value: String?

        public init(name: String, operation: Int8 = 0, value: String?) { (self.name, self.operation, self.value) = (name, operation, value) }
    }

    public struct Resource: Sendable, Equatable {
        public var type: Int8
        public var name: String
        public var changes: [Change]

        public init(type: Int8, name: String, changes: [Change]) { (self.type, self.name, self.changes) = (type, name, changes) }
    }

    public var resources: [Resource]
    public var validateOnly: Bool
    /// Whether the request came as IncrementalAlterConfigs.
    public var incremental: Bool

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16, incremental: Bool) throws -> Self {
        let resources = try decoder.array("resources") { decoder in
            let type = try decoder.int8("resource type")
            let name = try decoder.string("resource name")
            let changes = try decoder.array("configs") { decoder in
                let key = try decoder.string("config name")
                let operation = incremental ? try decoder.int8("config operation") : 0
                let value = try decoder.nullableString("config value")
                try decoder.taggedFields()
                return Change(name: key, operation: operation, value: value)
            }
            try decoder.taggedFields()
            return Resource(type: type, name: name, changes: changes)
        }
        let validateOnly = try decoder.bool("validate only")
        try decoder.taggedFields()
        return Self(resources: resources, validateOnly: validateOnly, incremental: incremental)
    }
}

/// The answer to AlterConfigs and IncrementalAlterConfigs: one error per resource.
public struct AlterConfigsResponse: Sendable, Equatable {
    public struct Result: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var resourceType: Int8
        public var resourceName: String

        public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, resourceType: Int8, resourceName: String) {
            (self.errorCode, self.errorMessage, self.resourceType, self.resourceName) = (errorCode, errorMessage, resourceType, resourceName)
        }
    }

    public var results: [Result]

    public init(results: [Result]) { self.results = results }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.int8(result.resourceType)
            encoder.string(result.resourceName)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
