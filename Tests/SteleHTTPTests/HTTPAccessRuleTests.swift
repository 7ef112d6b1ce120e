import Foundation
import HTTPTypes
import Testing
import SteleBroker
import SteleLog
import SteleLogTesting
import SteleSecurity
@testable import SteleHTTP

/// Who may use each route: every operation of the OpenAPI document has a rule (a route added
/// without one would fail here before it could be served unchecked), and the rules name the
/// resources Kafka's ACLs use.
struct HTTPAccessRuleTests {
    @Test func everyDocumentedOperationHasARule() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        #expect(paths.count >= 20)
        for (path, operations) in paths {
            let concrete = path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "x", options: .regularExpression)
            for method in operations.keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                let rule = HTTPAccess.rule(method: HTTPRequest.Method(rawValue: method.uppercased())!, path: concrete)
                #expect(rule != nil, "\(method.uppercased()) \(path) has no access rule")
            }
        }
    }

    @Test func rulesNameKafkasResources() {
        #expect(HTTPAccess.rule(method: .get, path: "/health") == .open)
        #expect(HTTPAccess.rule(method: .get, path: "/metrics") == .metrics)
        #expect(HTTPAccess.rule(method: .post, path: "/streams/orders/42") == .append(category: "orders"))
        #expect(HTTPAccess.rule(method: .get, path: "/streams/orders/42") == .need(.read, .topic("orders")))
        #expect(HTTPAccess.rule(method: .put, path: "/streams/orders/42/snapshots/s") == .need(.write, .topic("orders")))
        #expect(HTTPAccess.rule(method: .post, path: "/views/balances/query") == .need(.read, .view("balances")))
        #expect(HTTPAccess.rule(method: .post, path: "/views/balances/rebuild") == .need(.alter, .view("balances")))
        #expect(HTTPAccess.rule(method: .post, path: "/topics") == .need(.create, .cluster))
        // Decoded as the router decodes parameters: an escaped name meets the rules of the name.
        #expect(HTTPAccess.rule(method: .get, path: "/streams/%6Frders/42") == .need(.read, .topic("orders")))
        #expect(HTTPAccess.rule(method: .delete, path: "/streams/orders/42") == nil)
        // The console: its files are open, its overview lists what the principal may describe,
        // and its topic actions need what Kafka's requests need.
        #expect(HTTPAccess.rule(method: .get, path: "/") == .open)
        #expect(HTTPAccess.rule(method: .get, path: "/console/console.js") == .open)
        #expect(HTTPAccess.rule(method: .get, path: "/console/other.js") == nil)
        #expect(HTTPAccess.rule(method: .post, path: "/") == nil)
        #expect(HTTPAccess.rule(method: .get, path: "/overview/subscribe") == .signedIn)
        #expect(HTTPAccess.rule(method: .get, path: "/topics/orders/records") == .need(.read, .topic("orders")))
        #expect(HTTPAccess.rule(method: .post, path: "/topics/orders/records") == .need(.write, .topic("orders")))
        #expect(HTTPAccess.rule(method: .delete, path: "/topics/orders") == .need(.delete, .topic("orders")))
    }

    @Test func tokensAreCheckedRevokedAndExpired() throws {
        let fileSystem = SimulatedFileSystem()
        try fileSystem.createDirectoryDurably("/sim/data")
        let store = TokenStore(directory: "/sim/data", fileSystem: fileSystem)
        let now = Date(timeIntervalSince1970: 1_000_000)
        let forever = try store.create(for: .user("alice"), expires: nil, now: now)
        let brief = try store.create(for: .user("bob"), expires: now.addingTimeInterval(60), now: now)
        let reopened = TokenStore(directory: "/sim/data", fileSystem: fileSystem)
        #expect(reopened.verify(forever, now: now) == .valid(.user("alice")))
        #expect(reopened.verify(brief, now: now.addingTimeInterval(59)) == .valid(.user("bob")))
        #expect(reopened.verify(brief, now: now.addingTimeInterval(60)) == .expired(.user("bob")))
        #expect(reopened.verify(try #require(AccessToken(text: "stele_\(forever.id)_wrong")), now: now) == .unknown)
        #expect(try reopened.revoke(forever.id))
        #expect(TokenStore(directory: "/sim/data", fileSystem: fileSystem).verify(forever, now: now) == .unknown)
        #expect(throws: SecurityConfigurationError.self) { try store.create(for: .user("c"), expires: now.addingTimeInterval(-1), now: now) }
        // Only the secret's hash is on disk.
        let file = String(decoding: fileSystem.contents(of: "/sim/data/security/tokens.json") ?? [], as: UTF8.self)
        #expect(!file.contains(brief.secret) && file.contains(brief.id))
        for text in ["", "stele_", "stele_123_abc", "bearer", "stele_zzzzzzzzzzzz_abc", String(repeating: "a", count: 300)] {
            #expect(AccessToken(text: text) == nil, "\(text)")
        }
    }

    @Test func aDamagedTokenFileAcceptsNoTokenAndIsKept() throws {
        let fileSystem = SimulatedFileSystem()
        try fileSystem.createDirectoryDurably("/sim/data")
        let token = try TokenStore(directory: "/sim/data", fileSystem: fileSystem).create(for: .user("alice"), expires: nil)
        fileSystem.setContents(of: "/sim/data/security/tokens.json", to: Array("{\"format\":1,\"tokens\":[{".utf8))
        let store = TokenStore(directory: "/sim/data", fileSystem: fileSystem)
        #expect(store.problem != nil)
        #expect(store.verify(token) == .unknown)
        #expect(throws: SecurityConfigurationError.self) { try store.revoke(token.id) }
    }
}
