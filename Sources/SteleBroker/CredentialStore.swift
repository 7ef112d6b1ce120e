import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SteleLog
import SteleSecurity

/// The SCRAM credentials of the broker's users, kept in `DATA/security/scram-credentials.json`
/// (salts, iteration counts, stored and server keys: never a password). Every change is
/// written whole and durably before it is used. A file that cannot be read is reported in
/// ``problem`` and left as it is: nobody authenticates and nothing is changed until an
/// operator looks (a damaged file must not become an empty one).
public final class CredentialStore: Sendable, ScramCredentialLookup {
    public let path: String
    private let fileSystem: any FileSystem
    private let state: Mutex<State>

    struct State {
        var users: [String: [ScramMechanism: ScramCredential]] = [:]
        var problem: String?
    }

    /// The file's format: a newer one is refused rather than misread.
    static let format = 1

    public init(directory: String, fileSystem: any FileSystem = POSIXFileSystem()) {
        self.path = directory + "/security/scram-credentials.json"
        self.fileSystem = fileSystem
        var state = State()
        if fileSystem.fileExists(path) {
            do {
                state.users = try Self.decode(try fileSystem.readFile(path))
            } catch {
                state.problem = "\(path) cannot be read (\(error)); no user can authenticate until it is repaired or removed"
            }
        }
        self.state = Mutex(state)
    }

    /// Why the credentials cannot be used, if they cannot.
    public var problem: String? { state.withLock { $0.problem } }

    public func credential(of user: String, mechanism: ScramMechanism) -> ScramCredential? {
        state.withLock { $0.problem == nil ? $0.users[user]?[mechanism] : nil }
    }

    /// Users and the mechanisms each has a credential for (with its iterations), by name.
    public var users: [(name: String, credentials: [(mechanism: ScramMechanism, iterations: Int)])] {
        state.withLock { state in
            state.users.sorted { $0.key < $1.key }.map { name, credentials in
                (name, credentials.sorted { $0.key.kafkaType < $1.key.kafkaType }.map { ($0.key, $0.value.iterations) })
            }
        }
    }

    /// Sets (adds or replaces) `user`'s credential for one mechanism, durably.
    public func set(_ credential: ScramCredential, for user: String, mechanism: ScramMechanism) throws {
        if let problem = Self.userNameProblem(user) { throw SecurityConfigurationError(problem) }
        try change { $0[user, default: [:]][mechanism] = credential }
    }

    /// Replaces all of `user`'s credentials with `credentials` in one durable write: after a
    /// password change no credential made from the old password is left for any mechanism.
    public func replace(_ user: String, with credentials: [ScramMechanism: ScramCredential]) throws {
        if let problem = Self.userNameProblem(user) { throw SecurityConfigurationError(problem) }
        precondition(!credentials.isEmpty, "a user keeps at least one credential")
        try change { $0[user] = credentials }
    }

    /// Sets (a credential) or deletes (nil) each mechanism's credential of `user`, in one
    /// durable write.
    public func apply(_ changes: [ScramMechanism: ScramCredential?], to user: String) throws {
        if let problem = Self.userNameProblem(user) { throw SecurityConfigurationError(problem) }
        try change { users in
            for (mechanism, credential) in changes { users[user, default: [:]][mechanism] = credential }
            if users[user]?.isEmpty == true { users[user] = nil }
        }
    }

    /// Removes `user`'s credential for `mechanism` (every mechanism when nil). Returns whether
    /// there was one.
    @discardableResult
    public func delete(_ user: String, mechanism: ScramMechanism? = nil) throws -> Bool {
        var removed = false
        try change { users in
            if let mechanism {
                removed = users[user]?.removeValue(forKey: mechanism) != nil
                if users[user]?.isEmpty == true { users[user] = nil }
            } else {
                removed = users.removeValue(forKey: user) != nil
            }
        }
        return removed
    }

    private func change(_ body: (inout [String: [ScramMechanism: ScramCredential]]) -> Void) throws {
        try state.withLock { state in
            if let problem = state.problem { throw SecurityConfigurationError(problem) }
            var users = state.users
            body(&users)
            let directory = String(path[..<path.lastIndex(of: "/")!])
            try fileSystem.createDirectoryDurably(directory)
            // Only the server's user reads the directory: the keys cannot log in, but they
            // are what an offline password attack starts from.
            if fileSystem is POSIXFileSystem { _ = chmod(directory, 0o700) }
            try fileSystem.writeFileDurably(path, contents: try Self.encode(users))
            state.users = users
        }
    }

    /// Kafka's rules for SCRAM user names are loose; these keep the file and the logs sane.
    public static func userNameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 255 else { return "a user name has 1 to 255 bytes" }
        guard name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            return "a user name has no spaces or control characters"
        }
        return nil
    }

    struct File: Codable {
        var format: Int
        var users: [String: [String: Entry]]
    }

    struct Entry: Codable {
        var salt: String
        var iterations: Int
        var storedKey: String
        var serverKey: String

        enum CodingKeys: String, CodingKey {
            case salt, iterations
            case storedKey = "stored_key"
            case serverKey = "server_key"
        }
    }

    static func encode(_ users: [String: [ScramMechanism: ScramCredential]]) throws -> [UInt8] {
        let file = File(format: format, users: users.mapValues { credentials in
            Dictionary(uniqueKeysWithValues: credentials.map { mechanism, credential in
                (mechanism.rawValue, Entry(salt: Data(credential.salt).base64EncodedString(), iterations: credential.iterations,
                                           storedKey: Data(credential.storedKey).base64EncodedString(),
                                           serverKey: Data(credential.serverKey).base64EncodedString()))
            })
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(file)) + [UInt8(ascii: "\n")]
    }

    static func decode(_ bytes: [UInt8]) throws -> [String: [ScramMechanism: ScramCredential]] {
        let file = try JSONDecoder().decode(File.self, from: Data(bytes))
        guard file.format == format else { throw SecurityConfigurationError("format \(file.format) is not \(format) (written by a newer Stele?)") }
        return try file.users.mapValues { entries in
            try Dictionary(uniqueKeysWithValues: entries.map { name, entry in
                guard let mechanism = ScramMechanism(rawValue: name) else { throw SecurityConfigurationError("unknown mechanism \(name)") }
                guard let salt = Data(base64Encoded: entry.salt), let stored = Data(base64Encoded: entry.storedKey),
                      let server = Data(base64Encoded: entry.serverKey) else { throw SecurityConfigurationError("a key is not base64") }
                return (mechanism, ScramCredential(salt: Array(salt), iterations: entry.iterations, storedKey: Array(stored), serverKey: Array(server)))
            })
        }
    }
}
