import Foundation
import Logging
import Testing
import SteleBroker
import SteleRemote
import SteleSecurity
import SteleStore
@testable import SteleNode

/// The Swift remote backend against a server that authenticates: with a token whose principal
/// the ACLs allow it appends and reads; without one, or with a revoked one, it gets an error
/// (and does not hang: the 401 challenge names Bearer only).
@Suite struct RemoteTokenTests {
    let directory = NSTemporaryDirectory() + "stele-remote-token-" + UUID().uuidString

    @Test func theRemoteBackendSendsItsToken() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SteleNode.Configuration.ephemeral(directory: directory)
        configuration.http.authorizer = Authorizer()
        let node = try await SteleNode.start(configuration, logger: Logger(label: "test"))
        try node.broker.acls.add([
            AclBinding(resourceType: .topic, resourceName: "accounts", principal: "User:alice", operation: .all),
            AclBinding(resourceType: .cluster, resourceName: AclResourceType.clusterName, principal: "User:alice", operation: .create),
        ])
        let token = try node.broker.tokens.create(for: .user("alice"), expires: nil)
        let url = URL(string: "http://127.0.0.1:\(node.httpPort)")!
        let stream = StreamName(category: "accounts", id: "a")
        let allowed = RemoteEventStorage(url: url, token: token.text)
        _ = try await allowed.append([EventData(type: "Opened", data: Array("{}".utf8))], to: stream, expected: .any)
        let withToken = EventStore(allowed)
        #expect(try await withToken.read(stream).map(\.type) == ["Opened"])
        let anonymous = EventStore(RemoteEventStorage(url: url))
        await #expect(throws: EventStoreError.self) { _ = try await anonymous.read(stream) }
        try node.broker.tokens.revoke(token.id)
        await #expect(throws: EventStoreError.self) { _ = try await withToken.read(stream) }
        try await node.stopAndWait()
    }
}
