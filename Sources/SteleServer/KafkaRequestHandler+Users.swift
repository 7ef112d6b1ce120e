import Logging
import SteleBroker
import SteleKafkaProtocol
import SteleSecurity

/// DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): what Kafka's admin
/// clients use to manage SCRAM users on a running broker. Describing needs DESCRIBE on the
/// cluster, altering ALTER, as in Kafka. With no authorizer, both need an authenticated
/// principal: an anonymous client on a PLAINTEXT listener must neither list the users nor make
/// itself one. (With no authorizer, any authenticated user may change any user's credentials,
/// as in Kafka: use `--authorizer acl` where users do not all trust each other.)
extension KafkaRequestHandler {
    func describeUserScramCredentials(_ request: DescribeUserScramCredentialsRequest, requester: Requester) -> DescribeUserScramCredentialsResponse {
        // Who the users are is for authenticated principals only: an anonymous client could
        // otherwise list them (and PLAIN's decoy would hide nothing).
        guard authorizer != nil || requester.principal != .anonymous, allowed(requester, .describe, .cluster) else {
            return DescribeUserScramCredentialsResponse(errorCode: .clusterAuthorizationFailed, errorMessage: "DESCRIBE on the cluster is needed", results: [])
        }
        if let problem = broker.credentials.problem { return DescribeUserScramCredentialsResponse(errorCode: .kafkaStorageError, errorMessage: problem, results: []) }
        let users = broker.credentials.users
        func result(_ name: String) -> DescribeUserScramCredentialsResponse.Result {
            guard let user = users.first(where: { $0.name == name }) else {
                return .init(user: name, errorCode: .resourceNotFound, errorMessage: "attempt to describe a user credential that does not exist")
            }
            return .init(user: name, errorCode: .none, credentials: user.credentials.map { ($0.mechanism.kafkaType, Int32($0.iterations)) })
        }
        guard let names = request.users, !names.isEmpty else { return DescribeUserScramCredentialsResponse(results: users.map { result($0.name) }) }
        var seen: [String: Int] = [:]
        for name in names { seen[name, default: 0] += 1 }
        return DescribeUserScramCredentialsResponse(results: names.enumerated().compactMap { index, name in
            guard names.firstIndex(of: name) == index else { return nil }
            return seen[name]! > 1 ? .init(user: name, errorCode: .duplicateResource, errorMessage: "user \(name) is named twice") : result(name)
        })
    }

    func alterUserScramCredentials(_ request: AlterUserScramCredentialsRequest, requester: Requester) -> AlterUserScramCredentialsResponse {
        let names = request.deletions.map(\.name) + request.upsertions.map(\.name)
        var ordered: [String] = []
        for name in names where !ordered.contains(name) { ordered.append(name) }
        func all(_ code: KafkaErrorCode, _ message: String) -> AlterUserScramCredentialsResponse {
            AlterUserScramCredentialsResponse(results: ordered.map { .init(user: $0, errorCode: code, errorMessage: message) })
        }
        if authorizer == nil && requester.principal == .anonymous {
            return all(.clusterAuthorizationFailed, "changing users needs an authenticated principal (or --authorizer acl and ALTER on the cluster)")
        }
        guard allowed(requester, .alter, .cluster) else { return all(.clusterAuthorizationFailed, "ALTER on the cluster is needed") }
        var failures: [String: (KafkaErrorCode, String)] = [:]
        // Kafka's rules: a user and mechanism named twice in one request is refused for that user.
        var pairs: [String: Int] = [:]
        for key in request.deletions.map({ "\($0.name)\u{0}\($0.mechanism)" }) + request.upsertions.map({ "\($0.name)\u{0}\($0.mechanism)" }) {
            pairs[key, default: 0] += 1
        }
        for (key, count) in pairs where count > 1 {
            let name = String(key.split(separator: "\u{0}", omittingEmptySubsequences: false)[0])
            failures[name] = (.duplicateResource, "a credential of user \(name) is altered twice in one request")
        }
        var changes: [String: [ScramMechanism: ScramCredential?]] = [:]
        for deletion in request.deletions where failures[deletion.name] == nil {
            guard let mechanism = ScramMechanism(kafkaType: deletion.mechanism) else {
                failures[deletion.name] = (.unsupportedSaslMechanism, "unknown SCRAM mechanism \(deletion.mechanism)")
                continue
            }
            guard broker.credentials.credential(of: deletion.name, mechanism: mechanism) != nil else {
                failures[deletion.name] = (.resourceNotFound, "user \(deletion.name) has no \(mechanism.rawValue) credential")
                continue
            }
            changes[deletion.name, default: [:]][mechanism] = .some(nil)
        }
        for upsertion in request.upsertions where failures[upsertion.name] == nil {
            guard let mechanism = ScramMechanism(kafkaType: upsertion.mechanism) else {
                failures[upsertion.name] = (.unsupportedSaslMechanism, "unknown SCRAM mechanism \(upsertion.mechanism)")
                continue
            }
            if let problem = CredentialStore.userNameProblem(upsertion.name) {
                failures[upsertion.name] = (.unacceptableCredential, problem)
                continue
            }
            let iterations = Int(upsertion.iterations)
            guard (ScramMechanism.minIterations...ScramMechanism.maxIterations).contains(iterations) else {
                failures[upsertion.name] = (.unacceptableCredential, "iterations must be \(ScramMechanism.minIterations)...\(ScramMechanism.maxIterations), got \(iterations)")
                continue
            }
            guard !upsertion.salt.isEmpty, upsertion.saltedPassword.count == mechanism.hashLength else {
                failures[upsertion.name] = (.unacceptableCredential, "a salt and a \(mechanism.hashLength)-byte salted password are needed")
                continue
            }
            changes[upsertion.name, default: [:]][mechanism] = ScramCredential.fromSaltedPassword(
                upsertion.saltedPassword, salt: upsertion.salt, iterations: iterations, mechanism: mechanism)
        }
        var results: [AlterUserScramCredentialsResponse.Result] = []
        for name in ordered {
            if let (code, message) = failures[name] {
                results.append(.init(user: name, errorCode: code, errorMessage: message))
                continue
            }
            do {
                try broker.credentials.apply(changes[name] ?? [:], to: name)
                logger.info("SCRAM credentials changed", metadata: [
                    "by": "\(requester.principal)", "user": "\(name)",
                    "mechanisms": "\((changes[name] ?? [:]).map { "\($0.key.rawValue) \($0.value == nil ? "deleted" : "set")" }.sorted())",
                ])
                results.append(.init(user: name, errorCode: .none))
            } catch {
                results.append(.init(user: name, errorCode: .kafkaStorageError, errorMessage: "\(error)"))
            }
        }
        return AlterUserScramCredentialsResponse(results: results)
    }
}
