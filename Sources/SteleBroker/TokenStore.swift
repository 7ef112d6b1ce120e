import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SteleLog
import SteleSecurity

/// The HTTP API's bearer tokens, kept in `DATA/security/tokens.json`: per token its id, the
/// principal it acts as, when it was made and when it expires, and the SHA-256 of its secret —
/// never the token itself, which `stele tokens create` prints once. Written whole and durably
/// on every change; a file that cannot be read is reported in ``problem`` and left as it is,
/// and no token is accepted meanwhile.
public final class TokenStore: Sendable {
    public let path: String
    private let fileSystem: any FileSystem
    private let state: Mutex<State>

    public struct Entry: Sendable, Equatable {
        public let id: String
        public let principal: Principal
        public let created: Date
        public let expires: Date?
        let secretHash: [UInt8]
    }

    struct State {
        var entries: [Entry] = []
        var problem: String?
    }

    static let format = 1

    public init(directory: String, fileSystem: any FileSystem = POSIXFileSystem()) {
        self.path = directory + "/security/tokens.json"
        self.fileSystem = fileSystem
        var state = State()
        if fileSystem.fileExists(path) {
            do {
                state.entries = try Self.decode(try fileSystem.readFile(path))
            } catch {
                state.problem = "\(path) cannot be read (\(error)); no token is accepted until it is repaired or removed"
            }
        }
        self.state = Mutex(state)
    }

    public var problem: String? { state.withLock { $0.problem } }

    /// Every token, oldest first (never a secret).
    public var entries: [Entry] { state.withLock { $0.entries } }

    /// Makes a token for `principal`, stores its hash durably, and returns it: the only time
    /// its secret exists outside the client.
    public func create(for principal: Principal, expires: Date?, now: Date = Date()) throws -> AccessToken {
        if let expires, expires <= now { throw SecurityConfigurationError("the expiry is in the past") }
        var token = AccessToken.generate()
        try change { entries in
            // 48 random bits of id rarely meet, but an id names one token for revocation.
            while entries.contains(where: { $0.id == token.id }) { token = AccessToken.generate() }
            entries.append(Entry(id: token.id, principal: principal, created: now, expires: expires, secretHash: token.secretHash))
        }
        return token
    }

    /// Removes the token `id`; returns whether there was one. A revoked token is refused from
    /// the next request on.
    @discardableResult
    public func revoke(_ id: String) throws -> Bool {
        var removed = false
        try change { entries in
            let before = entries.count
            entries.removeAll { $0.id == id }
            removed = entries.count < before
        }
        return removed
    }

    public enum Verdict: Sendable, Equatable {
        case valid(Principal)
        /// Not a token of this server (unknown id, wrong secret, revoked, or unreadable file).
        case unknown
        case expired(Principal)
    }

    /// What `token` proves at `now`.
    public func verify(_ token: AccessToken, now: Date = Date()) -> Verdict {
        guard let entry = state.withLock({ $0.problem == nil ? $0.entries.first { $0.id == token.id } : nil }),
              token.matches(secretHash: entry.secretHash) else { return .unknown }
        if let expires = entry.expires, now >= expires { return .expired(entry.principal) }
        return .valid(entry.principal)
    }

    private func change(_ body: (inout [Entry]) -> Void) throws {
        try state.withLock { state in
            if let problem = state.problem { throw SecurityConfigurationError(problem) }
            var entries = state.entries
            body(&entries)
            guard entries != state.entries else { return }
            let directory = String(path[..<path.lastIndex(of: "/")!])
            try fileSystem.createDirectoryDurably(directory)
            if fileSystem is POSIXFileSystem { _ = chmod(directory, 0o700) }
            try fileSystem.writeFileDurably(path, contents: try Self.encode(entries))
            state.entries = entries
        }
    }

    struct File: Codable {
        var format: Int
        var tokens: [Stored]
    }

    struct Stored: Codable {
        var id: String
        var principal: String
        var created: Double
        var expires: Double?
        var secretSHA256: String

        enum CodingKeys: String, CodingKey {
            case id, principal, created, expires
            case secretSHA256 = "secret_sha256"
        }
    }

    static func encode(_ entries: [Entry]) throws -> [UInt8] {
        let file = File(format: format, tokens: entries.map {
            Stored(id: $0.id, principal: $0.principal.description, created: $0.created.timeIntervalSince1970,
                   expires: $0.expires?.timeIntervalSince1970, secretSHA256: $0.secretHash.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(file)) + [UInt8(ascii: "\n")]
    }

    static func decode(_ bytes: [UInt8]) throws -> [Entry] {
        let file = try JSONDecoder().decode(File.self, from: Data(bytes))
        guard file.format == format else { throw SecurityConfigurationError("format \(file.format) is not \(format) (written by a newer Stele?)") }
        return try file.tokens.map { stored in
            guard let principal = Principal(stored.principal) else { throw SecurityConfigurationError("token \(stored.id): bad principal") }
            let hex = Array(stored.secretSHA256.utf8)
            guard hex.count == 64 else { throw SecurityConfigurationError("token \(stored.id): bad hash") }
            let hash = try stride(from: 0, to: 64, by: 2).map { index -> UInt8 in
                guard let byte = UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16) else {
                    throw SecurityConfigurationError("token \(stored.id): bad hash")
                }
                return byte
            }
            return Entry(id: stored.id, principal: principal, created: Date(timeIntervalSince1970: stored.created),
                         expires: stored.expires.map { Date(timeIntervalSince1970: $0) }, secretHash: hash)
        }
    }
}
