import Logging
import SteleBroker
import SteleKafkaProtocol
import SteleSecurity

/// Who sends a request: the connection's principal and the address it connects from.
struct Requester: Sendable {
    var principal: Principal
    var host: String

    /// Tests that drive the handler directly, with no authorizer.
    static let local = Requester(principal: .anonymous, host: "127.0.0.1")
}

extension KafkaRequestHandler {
    /// Whether `requester` may do `operation` on `resource`: always without an authorizer;
    /// with one, as the broker's ACLs say, and only super users while the ACL file is damaged.
    func allowed(_ requester: Requester, _ operation: AclOperation, _ resource: AclResource) -> Bool {
        guard let authorizer else { return true }
        let allowed: Bool
        if let bindings = broker.acls.bindings {
            allowed = authorizer.authorize(requester.principal, host: requester.host, operation, resource, bindings: bindings)
        } else {
            allowed = authorizer.superUsers.contains(requester.principal)
        }
        if !allowed { denied(requester, operation, resource.description) }
        return allowed
    }

    /// Whether `requester` may do `operation` on some resource of `type` (KIP-679).
    func allowedOnAny(_ requester: Requester, _ operation: AclOperation, _ type: AclResourceType) -> Bool {
        guard let authorizer else { return true }
        guard let bindings = broker.acls.bindings else { return authorizer.superUsers.contains(requester.principal) }
        return authorizer.authorizeAny(requester.principal, host: requester.host, operation, type, bindings: bindings)
    }

    /// Creating a topic: CREATE on the cluster, or on the topic itself (Kafka checks both).
    func mayCreate(_ requester: Requester, topic: String) -> Bool {
        guard authorizer != nil else { return true }
        return allowedQuietly(requester, .create, .cluster) || allowed(requester, .create, .topic(topic))
    }

    /// As ``allowed(_:_:_:)``, without logging a refusal (a first of two checks).
    private func allowedQuietly(_ requester: Requester, _ operation: AclOperation, _ resource: AclResource) -> Bool {
        guard let authorizer else { return true }
        guard let bindings = broker.acls.bindings else { return authorizer.superUsers.contains(requester.principal) }
        return authorizer.authorize(requester.principal, host: requester.host, operation, resource, bindings: bindings)
    }

    private func denied(_ requester: Requester, _ operation: AclOperation, _ resource: String) {
        SecurityMetrics.shared.denials.increment()
        // Debug only: a client retrying a refused request would flood the log; the counter tells.
        logger.debug("not authorized", metadata: [
            "principal": "\(requester.principal)", "host": "\(requester.host)", "operation": "\(operation)", "resource": "\(resource)",
        ])
    }

    // MARK: DescribeAcls, CreateAcls, DeleteAcls

    func describeAcls(_ request: DescribeAclsRequest, requester: Requester) -> DescribeAclsResponse {
        guard authorizer != nil else { return DescribeAclsResponse(errorCode: .securityDisabled, errorMessage: Self.noAuthorizer) }
        guard allowed(requester, .describe, .cluster) else {
            return DescribeAclsResponse(errorCode: .clusterAuthorizationFailed, errorMessage: "DESCRIBE on the cluster is needed to list ACLs")
        }
        let filter: AclBindingFilter
        switch Self.filter(request.filter) {
        case let .success(parsed): filter = parsed
        case let .failure(problem): return DescribeAclsResponse(errorCode: .invalidRequest, errorMessage: problem.reason)
        }
        guard let bindings = broker.acls.bindings else {
            return DescribeAclsResponse(errorCode: .kafkaStorageError, errorMessage: broker.acls.problem)
        }
        return DescribeAclsResponse(errorCode: .none, acls: bindings.filter { $0.resourceType.isKafkas && filter.matches($0) }.map(Self.fields))
    }

    func createAcls(_ request: CreateAclsRequest, requester: Requester) -> CreateAclsResponse {
        func all(_ code: KafkaErrorCode, _ message: String?) -> CreateAclsResponse {
            CreateAclsResponse(results: request.creations.map { _ in (code, message) })
        }
        guard authorizer != nil else { return all(.securityDisabled, Self.noAuthorizer) }
        guard allowed(requester, .alter, .cluster) else { return all(.clusterAuthorizationFailed, "ALTER on the cluster is needed to change ACLs") }
        var results: [(errorCode: KafkaErrorCode, errorMessage: String?)] = []
        var accepted: [AclBinding] = []
        for creation in request.creations {
            switch Self.binding(creation) {
            case let .success(binding):
                accepted.append(binding)
                results.append((.none, nil))
            case let .failure(problem):
                results.append((.invalidRequest, problem.reason))
            }
        }
        do {
            try broker.acls.add(accepted)
            logger.info("ACLs created", metadata: ["by": "\(requester.principal)", "acls": "\(accepted.map(\.description))"])
        } catch {
            let message = "\(error)"
            results = results.map { $0.errorCode == .none ? (.kafkaStorageError, message) : $0 }
        }
        return CreateAclsResponse(results: results)
    }

    func deleteAcls(_ request: DeleteAclsRequest, requester: Requester) -> DeleteAclsResponse {
        func all(_ code: KafkaErrorCode, _ message: String?) -> DeleteAclsResponse {
            DeleteAclsResponse(results: request.filters.map { _ in .init(errorCode: code, errorMessage: message) })
        }
        guard authorizer != nil else { return all(.securityDisabled, Self.noAuthorizer) }
        guard allowed(requester, .alter, .cluster) else { return all(.clusterAuthorizationFailed, "ALTER on the cluster is needed to change ACLs") }
        let parsed: [Result<AclBindingFilter, SecurityConfigurationError>] = request.filters.map(Self.filter)
        let valid = parsed.compactMap { try? $0.get() }
        let removed: [[AclBinding]]
        do { removed = try broker.acls.remove(matching: valid) } catch { return all(.kafkaStorageError, "\(error)") }
        if removed.contains(where: { !$0.isEmpty }) {
            logger.info("ACLs deleted", metadata: ["by": "\(requester.principal)", "acls": "\(removed.flatMap { $0 }.map(\.description))"])
        }
        var next = removed.makeIterator()
        var results: [DeleteAclsResponse.FilterResult] = []
        for index in parsed.indices {
            switch parsed[index] {
            case .success: results.append(.init(errorCode: .none, matching: (next.next() ?? []).map(Self.fields)))
            case let .failure(problem): results.append(.init(errorCode: .invalidRequest, errorMessage: problem.reason))
            }
        }
        return DeleteAclsResponse(results: results)
    }

    static let noAuthorizer = "no authorizer is configured (stele serve --authorizer acl)"

    static func fields(_ binding: AclBinding) -> AclFields {
        AclFields(resourceType: binding.resourceType.rawValue, resourceName: binding.resourceName, patternType: binding.patternType.rawValue,
                  principal: binding.principal, host: binding.host, operation: binding.operation.rawValue, permission: binding.permission.rawValue)
    }

    /// A creation as a binding; Kafka's numbers for ANY, MATCH and UNKNOWN are refused here.
    static func binding(_ fields: AclFields) -> Result<AclBinding, SecurityConfigurationError> {
        guard let type = AclResourceType(rawValue: fields.resourceType), type.isKafkas else {
            return .failure(.init("resource type \(fields.resourceType) cannot be stored in an ACL"))
        }
        guard let pattern = AclPatternType(rawValue: fields.patternType) else { return .failure(.init("pattern type \(fields.patternType) is not LITERAL (3) or PREFIXED (4)")) }
        guard let operation = AclOperation(rawValue: fields.operation) else { return .failure(.init("operation \(fields.operation) cannot be stored in an ACL")) }
        guard let permission = AclPermission(rawValue: fields.permission) else { return .failure(.init("permission \(fields.permission) is not DENY (2) or ALLOW (3)")) }
        let binding = AclBinding(resourceType: type, resourceName: fields.resourceName, patternType: pattern, principal: fields.principal,
                                 host: fields.host, operation: operation, permission: permission)
        if let problem = binding.problem { return .failure(.init(problem)) }
        return .success(binding)
    }

    /// A wire filter: 1 means ANY in every numbered field; pattern 2 is MATCH.
    static func filter(_ fields: AclFilterFields) -> Result<AclBindingFilter, SecurityConfigurationError> {
        // Hosts as bindings store them, so `0:0:0:0:0:0:0:1` finds the ACL for `::1`.
        let host = fields.host.map { $0 == "*" ? $0 : AclHost.normalize($0) ?? $0 }
        var filter = AclBindingFilter(resourceName: fields.resourceName, principal: fields.principal, host: host)
        filter.kafkaTypesOnly = true
        if fields.resourceType != 1 {
            guard let type = AclResourceType(rawValue: fields.resourceType), type.isKafkas else { return .failure(.init("unknown resource type \(fields.resourceType)")) }
            filter.resourceType = type
        }
        switch fields.patternType {
        case 1: filter.pattern = .any
        case 2: filter.pattern = .match
        default:
            guard let pattern = AclPatternType(rawValue: fields.patternType) else { return .failure(.init("unknown pattern type \(fields.patternType)")) }
            filter.pattern = .exactly(pattern)
        }
        if fields.operation != 1 {
            guard let operation = AclOperation(rawValue: fields.operation) else { return .failure(.init("unknown operation \(fields.operation)")) }
            filter.operation = operation
        }
        if fields.permission != 1 {
            guard let permission = AclPermission(rawValue: fields.permission) else { return .failure(.init("unknown permission \(fields.permission)")) }
            filter.permission = permission
        }
        return .success(filter)
    }
}
