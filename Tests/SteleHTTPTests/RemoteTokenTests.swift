import Foundation
#if canImport(Glibc)
import Glibc
#endif
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

    /// A node that authenticates, where `User:alice` may do anything to the `accounts`
    /// category (and create topics), with a token of hers.
    static func nodeWhereAliceOwnsAccounts(_ directory: String) async throws -> (SteleNode, AccessToken) {
        var configuration = SteleNode.Configuration.ephemeral(directory: directory)
        configuration.http.authorizer = Authorizer()
        let node = try await SteleNode.start(configuration, logger: Logger(label: "test"))
        try node.broker.acls.add([
            AclBinding(resourceType: .topic, resourceName: "accounts", principal: "User:alice", operation: .all),
            AclBinding(resourceType: .cluster, resourceName: AclResourceType.clusterName, principal: "User:alice", operation: .create),
        ])
        return (node, try node.broker.tokens.create(for: .user("alice"), expires: nil))
    }

    @Test func theRemoteBackendSendsItsToken() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (node, token) = try await Self.nodeWhereAliceOwnsAccounts(directory)
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

    /// `POST /streams` names its categories in the body: the request needs the rights of an
    /// append to every one of them, and a refusal writes nothing.
    @Test func aMultiStreamAppendNeedsEveryCategory() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (node, token) = try await Self.nodeWhereAliceOwnsAccounts(directory)
        let store = EventStore(RemoteEventStorage(url: URL(string: "http://127.0.0.1:\(node.httpPort)")!, token: token.text))
        let alice = StreamName(category: "accounts", id: "alice")
        let bob = StreamName(category: "accounts", id: "bob")
        let ledger = StreamName(category: "ledger", id: "day")
        let both = try await store.append([StreamAppend([EventData(type: "Withdrawn", data: [])], to: alice),
                                           StreamAppend([EventData(type: "Deposited", data: [])], to: bob)])
        #expect(both.count == 2 && both.allSatisfy { !$0.wasAlreadyAppended })
        await #expect(throws: EventStoreError.self) {
            try await store.append([StreamAppend([EventData(type: "Withdrawn", data: [])], to: alice),
                                    StreamAppend([EventData(type: "Recorded", data: [])], to: ledger)])
        }
        #expect(try await node.store.version(of: alice) == 0, "the refused append wrote nothing")
        #expect(try await node.store.version(of: ledger) == -1)
        try await node.stopAndWait()
    }

    /// A subscription opened with a token ends once the token is revoked: the stream is
    /// authorized again as it goes (every heartbeat here), not only when it starts.
    @Test func aStreamEndsWhenItsTokenIsRevoked() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SteleNode.Configuration.ephemeral(directory: directory)
        configuration.http.authorizer = Authorizer()
        configuration.http.sseHeartbeat = .milliseconds(200)
        let node = try await SteleNode.start(configuration, logger: Logger(label: "test"))
        try node.broker.acls.add([AclBinding(resourceType: .topic, resourceName: "accounts", principal: "User:alice", operation: .all)])
        try await node.store.append([EventData(type: "Opened", data: Array("{}".utf8))], to: StreamName(category: "accounts", id: "a"))
        let token = try node.broker.tokens.create(for: .user("alice"), expires: nil)
        let fd = try connectLoopback(port: node.httpPort)
        defer { close(fd) }
        let request = "GET /categories/accounts/subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token.text)\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        /// Reads until the server closes the connection; returns what came.
        @Sendable func readToEnd() throws -> String {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { return String(decoding: received, as: UTF8.self) }
                guard count > 0 else { throw CancellationError() }
                received += buffer[0..<count]
                if received.count > 1 << 20 { return String(decoding: received, as: UTF8.self) }
            }
        }
        // The first event arrives; then the token is revoked and the stream must end by itself.
        let opening = try await offPool { () -> String in
            var first = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &first, first.count, 0)
            return String(decoding: first[0..<max(count, 0)], as: UTF8.self)
        }
        #expect(opening.contains("200"), "the subscription was not opened: \(opening)")
        try node.broker.tokens.revoke(token.id)
        let rest = try await offPool { try readToEnd() }
        #expect(rest.utf8.count < 1 << 20, "the stream went on after its token was revoked")
        try await node.stopAndWait()
    }
}
