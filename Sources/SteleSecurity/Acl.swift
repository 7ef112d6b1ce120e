/// Kafka's access-control model (KIP-290's ACLs, `AclAuthorizer`): a binding allows or denies
/// one principal, from one host, one operation on the resources a pattern names. The numbers
/// are Kafka's own (`ResourceType`, `PatternType`, `AclOperation`, `AclPermissionType` in
/// `org.apache.kafka.common`), used as they are on the wire and in `acls.json`.

#if canImport(Glibc)
import Glibc
#endif

/// IP addresses as ACLs compare them: one spelling per address, so `10.0.0.5` from an
/// IPv4-mapped IPv6 socket (`::ffff:10.0.0.5`) and Kafka's `0:0:0:0:0:0:0:1` for `::1` match.
public enum AclHost {
    /// The canonical text of an IPv4 or IPv6 address; nil when `text` is not one.
    public static func normalize(_ text: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return format(AF_INET, &v4, length: Int(INET_ADDRSTRLEN)) }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        // An IPv4 client on a dual-stack socket: the IPv4 address is who it is.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes[12..<16].map(String.init).joined(separator: ".")
        }
        return format(AF_INET6, &v6, length: Int(INET6_ADDRSTRLEN))
    }

    private static func format<T>(_ family: Int32, _ address: inout T, length: Int) -> String? {
        var buffer = [CChar](repeating: 0, count: length)
        guard inet_ntop(family, &address, &buffer, socklen_t(length)) != nil else { return nil }
        return String(cString: buffer)
    }
}

/// What an ACL protects.
public enum AclResourceType: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case topic = 2
    case group = 3
    case cluster = 4
    case transactionalId = 5
    /// A view of the HTTP API: Stele's own, managed with `stele acls`, never on the Kafka
    /// wire (Kafka clients know no such type).
    case view = 100

    /// Whether Kafka's ACL APIs show and change bindings of this type.
    public var isKafkas: Bool { self != .view }

    /// The one cluster resource's name (Kafka `kafka-cluster`).
    public static let clusterName = "kafka-cluster"

    public var description: String {
        switch self {
        case .topic: "Topic"
        case .group: "Group"
        case .cluster: "Cluster"
        case .transactionalId: "TransactionalId"
        case .view: "View"
        }
    }
}

/// How an ACL's resource name matches: the name itself, or every name starting with it. A
/// literal `*` matches every resource of its type.
public enum AclPatternType: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case literal = 3
    case prefixed = 4

    public var description: String { self == .literal ? "LITERAL" : "PREFIXED" }
}

/// What a request does to a resource.
public enum AclOperation: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case all = 2
    case read = 3
    case write = 4
    case create = 5
    case delete = 6
    case alter = 7
    case describe = 8
    case clusterAction = 9
    case describeConfigs = 10
    case alterConfigs = 11
    case idempotentWrite = 12

    public var description: String {
        switch self {
        case .all: "ALL"
        case .read: "READ"
        case .write: "WRITE"
        case .create: "CREATE"
        case .delete: "DELETE"
        case .alter: "ALTER"
        case .describe: "DESCRIBE"
        case .clusterAction: "CLUSTER_ACTION"
        case .describeConfigs: "DESCRIBE_CONFIGS"
        case .alterConfigs: "ALTER_CONFIGS"
        case .idempotentWrite: "IDEMPOTENT_WRITE"
        }
    }

    /// Parses Kafka's spelling (`WRITE`, `describe-configs`, `IdempotentWrite`).
    public init?(name: String) {
        let key = String(name.uppercased().map { $0 == "-" ? "_" : $0 })
        guard let found = Self.allCases.first(where: { $0.description == key || $0.description.filter({ $0 != "_" }) == key }) else {
            return nil
        }
        self = found
    }

    /// The operations an ALLOW binding for `self` also grants, as Kafka's authorizer has it:
    /// ALL grants everything; READ, WRITE, DELETE and ALTER grant DESCRIBE; ALTER_CONFIGS grants
    /// DESCRIBE_CONFIGS. A DENY binding denies only its own operation (or all, for ALL).
    public func grants(_ operation: AclOperation) -> Bool {
        if self == .all || self == operation { return true }
        switch operation {
        case .describe: return [.read, .write, .delete, .alter].contains(self)
        case .describeConfigs: return self == .alterConfigs
        default: return false
        }
    }
}

public enum AclPermission: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case deny = 2
    case allow = 3

    public var description: String { self == .allow ? "ALLOW" : "DENY" }
}

/// A resource a request touches: its type and its name.
public struct AclResource: Sendable, Hashable, CustomStringConvertible {
    public var type: AclResourceType
    public var name: String

    public init(_ type: AclResourceType, _ name: String) {
        self.type = type
        self.name = name
    }

    public static let cluster = AclResource(.cluster, AclResourceType.clusterName)
    public static func topic(_ name: String) -> AclResource { AclResource(.topic, name) }
    public static func group(_ name: String) -> AclResource { AclResource(.group, name) }
    public static func view(_ name: String) -> AclResource { AclResource(.view, name) }

    public var description: String { "\(type):\(name)" }
}

/// One ACL: `principal` from `host` is allowed (or denied) `operation` on the resources
/// `resourceName` names with `patternType`.
public struct AclBinding: Sendable, Hashable, CustomStringConvertible {
    public var resourceType: AclResourceType
    public var resourceName: String
    public var patternType: AclPatternType
    /// `User:alice`, or `User:*` for every principal.
    public var principal: String
    /// An IP address, or `*` for every host.
    public var host: String
    public var operation: AclOperation
    public var permission: AclPermission

    /// `host` is stored in its canonical spelling when it is an address (``AclHost``).
    public init(resourceType: AclResourceType, resourceName: String, patternType: AclPatternType = .literal,
                principal: String, host: String = "*", operation: AclOperation, permission: AclPermission = .allow) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host == "*" ? host : AclHost.normalize(host) ?? host
        self.operation = operation
        self.permission = permission
    }

    /// Why the binding cannot be stored, if it cannot (Kafka's own checks in `CreateAcls`).
    public var problem: String? {
        guard Principal(principal) != nil else { return "the principal '\(principal)' is not TYPE:NAME (User:alice, User:*)" }
        guard !resourceName.isEmpty else { return "the resource name is empty" }
        guard host == "*" || AclHost.normalize(host) == host else {
            return AclHost.normalize(host).map { "write the host \(host) as \($0)" } ?? "the host '\(host)' is not * or an IP address"
        }
        if resourceType == .cluster && resourceName != AclResourceType.clusterName {
            return "the cluster resource is named \(AclResourceType.clusterName)"
        }
        if patternType == .prefixed && resourceName == "*" { return "a prefixed pattern cannot be *" }
        return nil
    }

    /// Whether this binding's pattern names `resource`.
    public func covers(_ resource: AclResource) -> Bool {
        guard resourceType == resource.type else { return false }
        switch patternType {
        case .literal: return resourceName == resource.name || resourceName == "*"
        case .prefixed: return resource.name.hasPrefix(resourceName)
        }
    }

    /// Whether this binding speaks of `principal` connecting from `host`.
    public func applies(to principal: Principal, host: String) -> Bool {
        (self.principal == principal.description || self.principal == "\(principal.type):*")
            && (self.host == "*" || self.host == host)
    }

    public var description: String {
        "\(permission) \(principal) from \(host) \(operation) on \(resourceType):\(patternType == .prefixed ? resourceName + "*" : resourceName)"
    }
}

/// Which bindings a DescribeAcls or DeleteAcls request means: nil fields match anything.
public struct AclBindingFilter: Sendable, Equatable {
    /// How the filter's name is compared (Kafka `PatternType` in a filter).
    public enum PatternMatch: Sendable, Equatable {
        /// Any pattern type, name compared as it is.
        case any
        /// Bindings whose pattern would cover the name: the literal name, `*`, or a prefix of it.
        case match
        case exactly(AclPatternType)
    }

    public var resourceType: AclResourceType?
    public var resourceName: String?
    public var pattern: PatternMatch
    public var principal: String?
    public var host: String?
    public var operation: AclOperation?
    public var permission: AclPermission?
    /// Match only bindings of Kafka's resource types (Kafka's ACL APIs never see views').
    public var kafkaTypesOnly = false

    public init(resourceType: AclResourceType? = nil, resourceName: String? = nil, pattern: PatternMatch = .any,
                principal: String? = nil, host: String? = nil, operation: AclOperation? = nil, permission: AclPermission? = nil) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.pattern = pattern
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    public static let all = AclBindingFilter()

    public func matches(_ binding: AclBinding) -> Bool {
        if kafkaTypesOnly && !binding.resourceType.isKafkas { return false }
        if let resourceType, binding.resourceType != resourceType { return false }
        if let principal, binding.principal != principal { return false }
        if let host, binding.host != host { return false }
        if let operation, binding.operation != operation { return false }
        if let permission, binding.permission != permission { return false }
        switch pattern {
        case .any:
            if let resourceName, binding.resourceName != resourceName { return false }
        case let .exactly(type):
            if binding.patternType != type { return false }
            if let resourceName, binding.resourceName != resourceName { return false }
        case .match:
            guard let resourceName else { return true }
            return binding.covers(AclResource(binding.resourceType, resourceName))
        }
        return true
    }
}

/// Decides requests from a set of bindings, as Kafka's `StandardAuthorizer` does: super users
/// may do anything; a matching DENY wins over any ALLOW; otherwise a matching ALLOW (with the
/// operations it implies) allows; with no binding at all on the resource the answer is
/// `allowEveryoneIfNoAclFound` (Kafka `allow.everyone.if.no.acl.found`, false by default:
/// deny). Free of I/O: the broker's ACL store hands it its bindings.
public struct Authorizer: Sendable {
    public var superUsers: Set<Principal>
    public var allowEveryoneIfNoAclFound: Bool

    public init(superUsers: Set<Principal> = [], allowEveryoneIfNoAclFound: Bool = false) {
        self.superUsers = superUsers
        self.allowEveryoneIfNoAclFound = allowEveryoneIfNoAclFound
    }

    public func authorize(_ principal: Principal, host: String, _ operation: AclOperation, _ resource: AclResource,
                          bindings: [AclBinding]) -> Bool {
        if superUsers.contains(principal) { return true }
        let onResource = bindings.filter { $0.covers(resource) }
        if onResource.isEmpty { return allowEveryoneIfNoAclFound }
        let mine = onResource.filter { $0.applies(to: principal, host: host) }
        if mine.contains(where: { $0.permission == .deny && ($0.operation == .all || $0.operation == operation) }) {
            return false
        }
        return mine.contains { $0.permission == .allow && $0.operation.grants(operation) }
    }

    /// Whether `principal` may do `operation` on at least one resource of `type` (Kafka's
    /// `Authorizer.authorizeByResourceType`, KIP-679: an idempotent producer needs WRITE on some
    /// topic), by Kafka's algorithm: allowed if a made-up name no ACL targets is allowed (super
    /// users, `allowEveryoneIfNoAclFound`); denied by a DENY on every name (`*`); else allowed
    /// if some ALLOW (its own operation or ALL) names a literal `*`, or a literal name or
    /// prefix that no DENY literal of the same name or DENY prefix of it dominates.
    public func authorizeAny(_ principal: Principal, host: String, _ operation: AclOperation, _ type: AclResourceType,
                             bindings: [AclBinding]) -> Bool {
        if authorize(principal, host: host, operation, AclResource(type, "hardcode"), bindings: bindings) { return true }
        var denyLiterals: Set<String> = [], denyPrefixes: Set<String> = []
        var allowLiterals: Set<String> = [], allowPrefixes: Set<String> = []
        for binding in bindings where binding.resourceType == type && binding.applies(to: principal, host: host)
            && (binding.operation == operation || binding.operation == .all) {
            switch (binding.permission, binding.patternType) {
            case (.deny, .literal):
                if binding.resourceName == "*" { return false }
                denyLiterals.insert(binding.resourceName)
            case (.deny, .prefixed): denyPrefixes.insert(binding.resourceName)
            case (.allow, .literal):
                if binding.resourceName == "*" { return true }
                allowLiterals.insert(binding.resourceName)
            case (.allow, .prefixed): allowPrefixes.insert(binding.resourceName)
            }
        }
        func dominated(_ name: String) -> Bool {
            var prefix = ""
            for character in name {
                prefix.append(character)
                if denyPrefixes.contains(prefix) { return true }
            }
            return false
        }
        if allowLiterals.contains(where: { !denyLiterals.contains($0) && !dominated($0) }) { return true }
        return allowPrefixes.contains { !dominated($0) }
    }
}
