import Testing
@testable import SteleBroker
import SteleLog
import SteleLogTesting
import SteleSecurity

/// The credential and ACL files crashed at every file operation of a change, then reopened from
/// what a process crash, a power cut and a power cut with torn writes leave: each is the old
/// file or the new one, never a damaged or empty one. A damaged file is reported, changes
/// nothing, and is never replaced by an empty one.
@Suite("Security stores: crash at every file operation")
struct SecurityStoreCrashTests {
    static let directory = "/sim/data"

    static func freshFileSystem() -> SimulatedFileSystem {
        let fileSystem = SimulatedFileSystem()
        try! fileSystem.createDirectoryDurably(directory)
        return fileSystem
    }

    static let first = AclBinding(resourceType: .topic, resourceName: "orders", principal: "User:alice", operation: .write)
    static let second = AclBinding(resourceType: .group, resourceName: "billing-", patternType: .prefixed, principal: "User:bob",
                                   host: "10.0.0.1", operation: .read, permission: .deny)

    @Test func aclChangesAreAllOrNothingAcrossCrashes() throws {
        let complete = Self.freshFileSystem()
        try AclStore(directory: Self.directory, fileSystem: complete).add([Self.first])
        let before = complete.operationCount
        try AclStore(directory: Self.directory, fileSystem: complete).add([Self.second])
        let operations = complete.operationCount - before
        #expect(operations >= 4, "a write, a sync, a rename and a directory sync")
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            try AclStore(directory: Self.directory, fileSystem: fileSystem).add([Self.first])
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let acknowledged = (try? AclStore(directory: Self.directory, fileSystem: fileSystem).add([Self.second])) != nil
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let reopened = AclStore(directory: Self.directory, fileSystem: fileSystem.crashImage(kind))
                #expect(reopened.problem == nil, "crash at \(crashAt), \(kind): \(reopened.problem ?? "")")
                let bindings = reopened.bindings ?? []
                #expect(bindings == [Self.first] || bindings == [Self.first, Self.second], "crash at \(crashAt), \(kind): \(bindings)")
                if acknowledged { #expect(bindings == [Self.first, Self.second], "crash at \(crashAt), \(kind): an acknowledged ACL was lost") }
            }
        }
    }

    @Test func aclsSurviveAReopenAndRemoveByFilter() throws {
        let fileSystem = Self.freshFileSystem()
        let store = AclStore(directory: Self.directory, fileSystem: fileSystem)
        #expect(try store.add([Self.first, Self.second, Self.first]) == 2, "a binding is stored once")
        #expect(try store.add([Self.first]) == 0)
        let reopened = AclStore(directory: Self.directory, fileSystem: fileSystem)
        #expect(reopened.bindings == [Self.first, Self.second])
        let removed = try reopened.remove(matching: [AclBindingFilter(principal: "User:bob"), AclBindingFilter(principal: "User:carol")])
        #expect(removed == [[Self.second], []])
        #expect(AclStore(directory: Self.directory, fileSystem: fileSystem).bindings == [Self.first])
        #expect(throws: SecurityConfigurationError.self) {
            try store.add([AclBinding(resourceType: .topic, resourceName: "t", principal: "alice", operation: .read)])
        }
    }

    @Test func aDamagedAclFileIsReportedAndNeverReplaced() throws {
        let fileSystem = Self.freshFileSystem()
        try AclStore(directory: Self.directory, fileSystem: fileSystem).add([Self.first])
        let path = Self.directory + "/security/acls.json"
        for damaged in [Array("{\"format\":1,\"acls\":[{\"resource_type\":\"Topic\"".utf8),
                        Array("{\"format\":2,\"acls\":[]}".utf8),
                        Array("{\"format\":1,\"acls\":[{\"resource_type\":\"Table\",\"resource_name\":\"t\",\"pattern_type\":\"LITERAL\",\"principal\":\"User:a\",\"host\":\"*\",\"operation\":\"READ\",\"permission\":\"ALLOW\"}]}".utf8)] {
            fileSystem.setContents(of: path, to: damaged)
            let store = AclStore(directory: Self.directory, fileSystem: fileSystem)
            #expect(store.problem?.contains(path) == true)
            #expect(store.bindings == nil, "no ACL is served from a damaged file: the server authorizes super users only")
            #expect(throws: SecurityConfigurationError.self) { try store.add([Self.second]) }
            #expect(fileSystem.contents(of: path) == damaged, "the damaged file is left for the operator")
        }
    }

    @Test func credentialChangesAreAllOrNothingAcrossCrashes() throws {
        let old = try ScramCredential.make(password: "old", mechanism: .sha256)
        let new256 = try ScramCredential.make(password: "new", mechanism: .sha256)
        let new512 = try ScramCredential.make(password: "new", mechanism: .sha512)
        let complete = Self.freshFileSystem()
        try CredentialStore(directory: Self.directory, fileSystem: complete).set(old, for: "alice", mechanism: .sha256)
        let before = complete.operationCount
        try CredentialStore(directory: Self.directory, fileSystem: complete).replace("alice", with: [.sha256: new256, .sha512: new512])
        let operations = complete.operationCount - before
        for crashAt in 1...operations {
            let fileSystem = Self.freshFileSystem()
            try CredentialStore(directory: Self.directory, fileSystem: fileSystem).set(old, for: "alice", mechanism: .sha256)
            fileSystem.crashAtOperation = fileSystem.operationCount + crashAt
            let acknowledged = (try? CredentialStore(directory: Self.directory, fileSystem: fileSystem)
                .replace("alice", with: [.sha256: new256, .sha512: new512])) != nil
            for kind: SimulatedFileSystem.CrashKind in [.process, .power(tornTail: false), .power(tornTail: true)] {
                let reopened = CredentialStore(directory: Self.directory, fileSystem: fileSystem.crashImage(kind))
                #expect(reopened.problem == nil, "crash at \(crashAt), \(kind)")
                let found = (reopened.credential(of: "alice", mechanism: .sha256), reopened.credential(of: "alice", mechanism: .sha512))
                let isOld = found.0 == old && found.1 == nil
                let isNew = found.0 == new256 && found.1 == new512
                #expect(isOld || isNew, "crash at \(crashAt), \(kind): a mix of old and new credentials")
                if acknowledged { #expect(isNew, "crash at \(crashAt), \(kind): an acknowledged password change was lost") }
            }
        }
    }

    /// A password change leaves no credential of the old password, for any mechanism.
    @Test func replacingCredentialsDropsEveryOldOne() throws {
        let fileSystem = Self.freshFileSystem()
        let store = CredentialStore(directory: Self.directory, fileSystem: fileSystem)
        try store.set(try ScramCredential.make(password: "old", mechanism: .sha256), for: "bob", mechanism: .sha256)
        try store.set(try ScramCredential.make(password: "old", mechanism: .sha512), for: "bob", mechanism: .sha512)
        try store.replace("bob", with: [.sha512: try ScramCredential.make(password: "new", mechanism: .sha512)])
        let reopened = CredentialStore(directory: Self.directory, fileSystem: fileSystem)
        #expect(reopened.credential(of: "bob", mechanism: .sha256) == nil)
        #expect(reopened.credential(of: "bob", mechanism: .sha512)?.verifies(password: "new", mechanism: .sha512) == true)
    }

    @Test func aDamagedCredentialFileIsReportedAndNeverReplaced() throws {
        let fileSystem = Self.freshFileSystem()
        let store = CredentialStore(directory: Self.directory, fileSystem: fileSystem)
        try store.set(try ScramCredential.make(password: "pw", mechanism: .sha256), for: "alice", mechanism: .sha256)
        let path = Self.directory + "/security/scram-credentials.json"
        let damaged = Array((fileSystem.contents(of: path) ?? []).dropLast(20))
        fileSystem.setContents(of: path, to: damaged)
        let reopened = CredentialStore(directory: Self.directory, fileSystem: fileSystem)
        #expect(reopened.problem != nil)
        #expect(reopened.credential(of: "alice", mechanism: .sha256) == nil, "nobody authenticates from a damaged file")
        #expect(throws: SecurityConfigurationError.self) { try reopened.delete("alice") }
        #expect(fileSystem.contents(of: path) == damaged)
    }
}
