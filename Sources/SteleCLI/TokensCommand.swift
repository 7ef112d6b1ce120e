import ArgumentParser
import Foundation
import SteleBroker
import SteleLog
import SteleSecurity

/// `stele tokens`: bearer tokens for the HTTP API, kept hashed in the data directory (a
/// stopped server's: the command takes the directory's lock).
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Manage the HTTP API's bearer tokens (hashed in DATA/security/tokens.json).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Location: ParsableArguments {
        @Option(help: "Data directory of a stopped server.")
        var dataDir = "./stele-data"

        func withStore<T>(_ body: (TokenStore) throws -> T) throws -> T {
            guard FileManager.default.fileExists(atPath: dataDir) else { throw ValidationError("no data directory at \(dataDir)") }
            let lock: DataDirectoryLock
            do { lock = try DataDirectoryLock.acquire(dataDir) } catch {
                throw ValidationError("\(error); stop the server first (tokens are changed in a stopped server's data directory)")
            }
            defer { lock.release() }
            let store = TokenStore(directory: dataDir)
            if let problem = store.problem { throw ValidationError(problem) }
            return try body(store)
        }
    }

    /// `30d`, `12h`, `45m`, `90s`: how long a token lasts.
    static func duration(_ text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0, count <= 3650 * 86400 else {
            throw ValidationError("--expires is a positive number followed by s, m, h or d (e.g. 30d), got '\(text)'")
        }
        let seconds = TimeInterval(count) * unit
        guard seconds <= 3650 * 86400 else { throw ValidationError("--expires is at most 3650d") }
        return seconds
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token for a principal and print it, once.")
        @Option(help: "The principal the token acts as, e.g. User:alice.") var principal: String
        @Option(help: "How long it lasts (30d, 12h, 45m); without it, until revoked.") var expires: String?
        @OptionGroup var location: Location

        func run() throws {
            guard let principal = Principal(principal) else { throw ValidationError("'\(principal)' is not a principal (User:alice)") }
            let expiry = try expires.map { Date().addingTimeInterval(try TokensCommand.duration($0)) }
            let token = try location.withStore { try $0.create(for: principal, expires: expiry) }
            // The token goes to standard output alone, so `TOKEN=$(stele tokens create …)` works;
            // what it is goes to standard error.
            FileHandle.standardError.write(Data("token \(token.id) for \(principal)\(expiry.map { ", expires \($0)" } ?? ""); it is shown only now\n".utf8))
            print(token.text)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens: id, principal, creation and expiry (never a secret).")
        @OptionGroup var location: Location

        func run() throws {
            let now = Date()
            for entry in try location.withStore({ $0.entries }) {
                let expiry = entry.expires.map { $0 <= now ? "expired \($0)" : "expires \($0)" } ?? "no expiry"
                print("\(entry.id)\t\(entry.principal)\tcreated \(entry.created)\t\(expiry)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id (from 'stele tokens list').")
        @Argument(help: "The token's id.") var id: String
        @OptionGroup var location: Location

        func run() throws {
            guard try location.withStore({ try $0.revoke(id) }) else { throw ValidationError("no token \(id)") }
            print("revoked \(id)")
        }
    }
}
