import SteleBroker
import SteleKafkaProtocol
import SteleLog
import SteleSecurity

/// Client quotas: DescribeClientQuotas and AlterClientQuotas (DESCRIBE_CONFIGS / ALTER_CONFIGS
/// on the cluster, as in Kafka), and the throttle a produce or fetch earns past its quota.
extension KafkaRequestHandler {
    func describeClientQuotas(_ request: DescribeClientQuotasRequest, requester: Requester) -> DescribeClientQuotasResponse {
        guard allowed(requester, .describeConfigs, .cluster) else {
            return DescribeClientQuotasResponse(errorCode: .clusterAuthorizationFailed, errorMessage: "DESCRIBE_CONFIGS on the cluster is needed", entries: nil)
        }
        var filters: [ClientQuotas.Filter] = []
        for component in request.components {
            func invalid(_ message: String) -> DescribeClientQuotasResponse { .init(errorCode: .invalidRequest, errorMessage: message, entries: nil) }
            guard ["user", "client-id", "ip"].contains(component.entityType) else { return invalid("unknown quota entity type \(component.entityType)") }
            guard !filters.contains(where: { $0.entityType == component.entityType }) else { return invalid("entity type \(component.entityType) appears twice") }
            switch (component.matchType, component.match) {
            case let (0, name?): filters.append(.init(entityType: component.entityType, match: .exactly(name)))
            case (1, nil): filters.append(.init(entityType: component.entityType, match: .defaultName))
            case (2, nil): filters.append(.init(entityType: component.entityType, match: .any))
            default: return invalid("match type \(component.matchType) with match \(component.match ?? "null") is not a filter")
            }
        }
        // Stele keeps no ip quotas: a filter on ip matches nothing.
        if filters.contains(where: { $0.entityType == "ip" }) { return DescribeClientQuotasResponse(entries: []) }
        return DescribeClientQuotasResponse(entries: broker.quotas.quotas.matching(filters, strict: request.strict).map { entity, values in
            .init(entity: Self.components(of: entity), values: values.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.rawValue, $0.value) })
        })
    }

    func alterClientQuotas(_ request: AlterClientQuotasRequest, requester: Requester) -> AlterClientQuotasResponse {
        let mayAlter = allowed(requester, .alterConfigs, .cluster)
        return AlterClientQuotasResponse(entries: request.entries.map { entry in
            func result(_ code: KafkaErrorCode, _ message: String? = nil) -> AlterClientQuotasResponse.Entry {
                .init(errorCode: code, errorMessage: message, entity: entry.entity)
            }
            guard mayAlter else { return result(.clusterAuthorizationFailed, "ALTER_CONFIGS on the cluster is needed") }
            var entity = QuotaEntity()
            for component in entry.entity {
                let name = QuotaEntityName(wire: component.entityName)
                switch component.entityType {
                case "user" where entity.user == nil: entity.user = name
                case "client-id" where entity.clientId == nil: entity.clientId = name
                case "user", "client-id": return result(.invalidRequest, "entity type \(component.entityType) appears twice")
                case "ip": return result(.invalidRequest, "ip quotas (connection_creation_rate) are not enforced by Stele")
                default: return result(.invalidRequest, "unknown quota entity type \(component.entityType)")
                }
            }
            let changes = entry.operations.map { ClientQuotas.Change(key: $0.key, value: $0.value, remove: $0.remove) }
            do {
                try broker.quotas.alter([(entity, changes)], validateOnly: request.validateOnly)
                if !request.validateOnly {
                    logger.info("client quotas changed", metadata: ["entity": "\(entity)", "principal": "\(requester.principal)"])
                }
                return result(.none)
            } catch let BrokerError.invalidConfig(reason) {
                return result(.invalidRequest, reason)
            } catch {
                return result(.kafkaStorageError, "\(error)")
            }
        })
    }

    static func components(of entity: QuotaEntity) -> [QuotaEntityComponent] {
        [entity.user.map { QuotaEntityComponent(entityType: "user", entityName: $0.wire) },
         entity.clientId.map { QuotaEntityComponent(entityType: "client-id", entityName: $0.wire) }].compactMap { $0 }
    }

    /// The throttle, in milliseconds, that `bytes` of `quota` traffic earns `requester`'s
    /// client `clientId` (user quotas name the principal's name: `ANONYMOUS` without
    /// authentication, as in Kafka), capped below the fetch wait limit so a muted connection
    /// is never taken for an idle one.
    func throttle(_ bytes: Int, _ quota: QuotaKey, requester: Requester, clientId: String) -> (milliseconds: Int32, entity: QuotaEntity?) {
        let (throttle, entity) = broker.recordQuotaBytes(bytes, quota, user: requester.principal.name, clientId: clientId)
        guard throttle > 0 else { return (0, entity) }
        return (Int32(min(throttle, maxFetchWait.milliseconds, Int64(Int32.max))), entity)
    }
}
