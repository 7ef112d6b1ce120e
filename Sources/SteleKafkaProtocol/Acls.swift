/// DescribeAcls (29), CreateAcls (30) and DeleteAcls (31), v0–3, flexible from v2. v0 has no
/// pattern type (a v0 filter means LITERAL; a v0 creation is LITERAL). Resource types,
/// pattern types, operations and permissions travel as Kafka's numbers; the server maps them
/// to its ACL model.

/// A filter in DescribeAcls and DeleteAcls: null strings and the ANY numbers (1) match anything.
public struct AclFilterFields: Sendable, Equatable {
    public var resourceType: Int8
    public var resourceName: String?
    /// 1 ANY, 2 MATCH, 3 LITERAL, 4 PREFIXED.
    public var patternType: Int8
    public var principal: String?
    public var host: String?
    public var operation: Int8
    public var permission: Int8

    public init(resourceType: Int8, resourceName: String?, patternType: Int8, principal: String?, host: String?,
                operation: Int8, permission: Int8) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let resourceType = try decoder.int8("resource type")
        let resourceName = try decoder.nullableString("resource name")
        let patternType = version >= 1 ? try decoder.int8("pattern type") : 3
        let principal = try decoder.nullableString("principal")
        let host = try decoder.nullableString("host")
        let operation = try decoder.int8("operation")
        let permission = try decoder.int8("permission type")
        return Self(resourceType: resourceType, resourceName: resourceName, patternType: patternType, principal: principal,
                    host: host, operation: operation, permission: permission)
    }
}

/// One ACL as the responses carry it.
public struct AclFields: Sendable, Equatable {
    public var resourceType: Int8
    public var resourceName: String
    public var patternType: Int8
    public var principal: String
    public var host: String
    public var operation: Int8
    public var permission: Int8

    public init(resourceType: Int8, resourceName: String, patternType: Int8, principal: String, host: String,
                operation: Int8, permission: Int8) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }
}

public struct DescribeAclsRequest: Sendable, Equatable {
    public var filter: AclFilterFields

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let filter = try AclFilterFields.decode(&decoder, version: version)
        try decoder.taggedFields()
        return Self(filter: filter)
    }
}

public struct DescribeAclsResponse: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    /// The ACLs found; grouped by resource when encoded.
    public var acls: [AclFields]

    public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, acls: [AclFields] = []) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.acls = acls
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        struct Resource { var type: Int8; var name: String; var pattern: Int8; var acls: [AclFields] }
        var resources: [Resource] = []
        for acl in acls {
            if let index = resources.firstIndex(where: { $0.type == acl.resourceType && $0.name == acl.resourceName && $0.pattern == acl.patternType }) {
                resources[index].acls.append(acl)
            } else {
                resources.append(Resource(type: acl.resourceType, name: acl.resourceName, pattern: acl.patternType, acls: [acl]))
            }
        }
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.array(resources) { encoder, resource in
            encoder.int8(resource.type)
            encoder.string(resource.name)
            if version >= 1 { encoder.int8(resource.pattern) }
            encoder.array(resource.acls) { encoder, acl in
                encoder.string(acl.principal)
                encoder.string(acl.host)
                encoder.int8(acl.operation)
                encoder.int8(acl.permission)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct CreateAclsRequest: Sendable, Equatable {
    public var creations: [AclFields]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let creations = try decoder.array("creations") { decoder -> AclFields in
            let resourceType = try decoder.int8("resource type")
            let resourceName = try decoder.string("resource name")
            let patternType = version >= 1 ? try decoder.int8("pattern type") : 3
            let acl = AclFields(resourceType: resourceType, resourceName: resourceName, patternType: patternType,
                                principal: try decoder.string("principal"), host: try decoder.string("host"),
                                operation: try decoder.int8("operation"), permission: try decoder.int8("permission type"))
            try decoder.taggedFields()
            return acl
        }
        try decoder.taggedFields()
        return Self(creations: creations)
    }
}

public struct CreateAclsResponse: Sendable, Equatable {
    /// One per creation, in order.
    public var results: [(errorCode: KafkaErrorCode, errorMessage: String?)]

    public init(results: [(errorCode: KafkaErrorCode, errorMessage: String?)]) {
        self.results = results
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.results.map(\.errorCode) == rhs.results.map(\.errorCode) && lhs.results.map(\.errorMessage) == rhs.results.map(\.errorMessage)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct DeleteAclsRequest: Sendable, Equatable {
    public var filters: [AclFilterFields]

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let filters = try decoder.array("filters") { decoder -> AclFilterFields in
            let filter = try AclFilterFields.decode(&decoder, version: version)
            try decoder.taggedFields()
            return filter
        }
        try decoder.taggedFields()
        return Self(filters: filters)
    }
}

public struct DeleteAclsResponse: Sendable, Equatable {
    public struct FilterResult: Sendable, Equatable {
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var matching: [AclFields]

        public init(errorCode: KafkaErrorCode, errorMessage: String? = nil, matching: [AclFields] = []) {
            self.errorCode = errorCode
            self.errorMessage = errorMessage
            self.matching = matching
        }
    }

    /// One per filter, in order.
    public var results: [FilterResult]

    public init(results: [FilterResult]) {
        self.results = results
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.array(result.matching) { encoder, acl in
                encoder.int16(KafkaErrorCode.none.rawValue)
                encoder.nullableString(nil)
                encoder.int8(acl.resourceType)
                encoder.string(acl.resourceName)
                if version >= 1 { encoder.int8(acl.patternType) }
                encoder.string(acl.principal)
                encoder.string(acl.host)
                encoder.int8(acl.operation)
                encoder.int8(acl.permission)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}
