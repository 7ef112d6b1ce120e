/// Kafka's client quotas (KIP-13, KIP-55, KIP-546): byte rates per user, per client id, or per
/// both, with defaults, resolved in Kafka's order. Pure: the store keeps them, the rate windows
/// measure traffic against them.

/// One component of a quota entity: a name, or the default for every name.
public enum QuotaEntityName: Hashable, Sendable, Codable {
    case named(String)
    case defaultName

    /// Kafka's wire form: the name, or null for the default.
    public init(wire: String?) { self = wire.map(Self.named) ?? .defaultName }
    public var wire: String? {
        if case let .named(name) = self { return name }
        return nil
    }
}

/// What a quota applies to: a user, a client id, or a user's client id.
public struct QuotaEntity: Hashable, Sendable, Codable, CustomStringConvertible {
    public var user: QuotaEntityName?
    public var clientId: QuotaEntityName?

    public init(user: QuotaEntityName? = nil, clientId: QuotaEntityName? = nil) {
        (self.user, self.clientId) = (user, clientId)
    }

    public var description: String {
        func part(_ type: String, _ name: QuotaEntityName?) -> String? {
            name.map { "\(type)=\($0.wire ?? "<default>")" }
        }
        return [part("user", user), part("client-id", clientId)].compactMap { $0 }.joined(separator: ",")
    }
}

/// The quotas Stele enforces. Kafka's `request_percentage`, `controller_mutation_rate` and the
/// `ip` entity's `connection_creation_rate` are refused rather than stored and ignored.
public enum QuotaKey: String, Sendable, Codable, CaseIterable {
    /// Bytes per second a producer may append.
    case producerByteRate = "producer_byte_rate"
    /// Bytes per second a consumer may fetch.
    case consumerByteRate = "consumer_byte_rate"
}

public struct ClientQuotas: Sendable, Equatable {
    public private(set) var values: [QuotaEntity: [QuotaKey: Double]] = [:]

    public init(values: [QuotaEntity: [QuotaKey: Double]] = [:]) {
        self.values = values.filter { !$0.value.isEmpty }
    }

    /// One change of AlterClientQuotas: set `key` to `value`, or remove it.
    public struct Change: Sendable, Equatable {
        public var key: String
        public var value: Double
        public var remove: Bool

        public init(key: String, value: Double, remove: Bool) { (self.key, self.value, self.remove) = (key, value, remove) }
    }

    /// Why `changes` cannot apply to `entity`, if they cannot (Kafka answers INVALID_REQUEST).
    public static func problem(entity: QuotaEntity, changes: [Change]) -> String? {
        if entity.user == nil && entity.clientId == nil { return "a quota entity needs a user, a client id or both" }
        if case let .named(name) = entity.user, name.isEmpty { return "an empty user name is not an entity" }
        if case let .named(name) = entity.clientId, name.isEmpty { return "an empty client id is not an entity; use the default (null)" }
        var seen: Set<String> = []
        for change in changes {
            guard seen.insert(change.key).inserted else { return "quota \(change.key) appears twice" }
            guard QuotaKey(rawValue: change.key) != nil else {
                return "quota \(change.key) is not enforced by Stele (only \(QuotaKey.allCases.map(\.rawValue).joined(separator: " and ")))"
            }
            if !change.remove {
                // Kafka's byte rates are longs: a whole number of bytes per second, at least 1.
                guard change.value.isFinite, change.value >= 1, change.value <= 9.2e18, change.value.rounded() == change.value else {
                    return "\(change.key) must be a whole number of bytes per second, at least 1, got \(change.value)"
                }
            }
        }
        return nil
    }

    /// `self` with `changes` applied to `entity` (checked with ``problem(entity:changes:)`` first).
    public func applying(_ changes: [Change], to entity: QuotaEntity) -> ClientQuotas {
        var values = self.values
        var entry = values[entity] ?? [:]
        for change in changes {
            guard let key = QuotaKey(rawValue: change.key) else { continue }
            entry[key] = change.remove ? nil : change.value
        }
        values[entity] = entry.isEmpty ? nil : entry
        return ClientQuotas(values: values)
    }

    /// The quota that applies to `user`'s client `clientId`, and the entity whose traffic it
    /// counts (every connection that resolves to the same entity shares it), in Kafka's order:
    /// user and client id, user and default client, user, default user and client id, default
    /// user and default client, default user, client id, default client.
    public func quota(_ key: QuotaKey, user: String, clientId: String) -> (entity: QuotaEntity, bytesPerSecond: Double)? {
        let (u, c): (QuotaEntityName, QuotaEntityName) = (.named(user), .named(clientId))
        let order: [QuotaEntity] = [
            QuotaEntity(user: u, clientId: c), QuotaEntity(user: u, clientId: .defaultName), QuotaEntity(user: u),
            QuotaEntity(user: .defaultName, clientId: c), QuotaEntity(user: .defaultName, clientId: .defaultName),
            QuotaEntity(user: .defaultName), QuotaEntity(clientId: c), QuotaEntity(clientId: .defaultName),
        ]
        for entity in order {
            if let bound = values[entity]?[key] {
                // The entity traffic is counted under: a default stands for the name it matched.
                let counted = QuotaEntity(user: entity.user.map { _ in u }, clientId: entity.clientId.map { _ in c })
                return (counted, bound)
            }
        }
        return nil
    }

    /// A DescribeClientQuotas filter component: an entity type and exact name, the default, or any.
    public struct Filter: Sendable, Equatable {
        public enum Match: Sendable, Equatable { case exactly(String), defaultName, any }
        public var entityType: String
        public var match: Match

        public init(entityType: String, match: Match) { (self.entityType, self.match) = (entityType, match) }
    }

    /// The entries `filters` select: each component must match; with `strict`, the entity has
    /// no other component.
    public func matching(_ filters: [Filter], strict: Bool) -> [(QuotaEntity, [QuotaKey: Double])] {
        values.filter { entity, _ in
            let components: [String: QuotaEntityName] = [
                "user": entity.user, "client-id": entity.clientId,
            ].compactMapValues { $0 }
            for filter in filters {
                guard let name = components[filter.entityType] else { return false }
                switch filter.match {
                case let .exactly(wanted): if name != .named(wanted) { return false }
                case .defaultName: if name != .defaultName { return false }
                case .any: break
                }
            }
            return !strict || Set(components.keys) == Set(filters.map(\.entityType))
        }.sorted { $0.key.description < $1.key.description }.map { ($0.key, $0.value) }
    }
}
