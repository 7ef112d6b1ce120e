import ArgumentParser
import Foundation
import SteleBroker
import SteleLog
import SteleSecurity

/// `stele users`: the SCRAM users SASL listeners authenticate, kept in the data directory
/// (a stopped server's: the command takes the directory's lock).
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage the users SASL listeners authenticate (SCRAM credentials in DATA/security).",
        subcommands: [Create.self, Passwd.self, List.self, Delete.self])

    struct Location: ParsableArguments {
        @Option(help: "Data directory of a stopped server.")
        var dataDir = "./stele-data"

        /// Opens the store under the directory's lock, so a running server is never changed behind its back.
        func withStore<T>(_ body: (CredentialStore) throws -> T) throws -> T {
            guard FileManager.default.fileExists(atPath: dataDir) else { throw ValidationError("no data directory at \(dataDir)") }
            let lock: DataDirectoryLock
            do { lock = try DataDirectoryLock.acquire(dataDir) } catch {
                throw ValidationError("\(error); stop the server first (users are changed in a stopped server's data directory)")
            }
            defer { lock.release() }
            let store = CredentialStore(directory: dataDir)
            if let problem = store.problem { throw ValidationError(problem) }
            return try body(store)
        }
    }

    struct Secret: ParsableArguments {
        @Option(help: "SCRAM mechanisms to store a credential for (comma-separated); PLAIN logins check either.")
        var mechanism = "SCRAM-SHA-256,SCRAM-SHA-512"

        @Option(help: "PBKDF2 iterations (Kafka's range: 4096–16384).")
        var iterations = ScramMechanism.minIterations

        func mechanisms() throws -> [ScramMechanism] {
            guard mechanism.contains(where: { $0 != "," && $0 != " " }) else { throw ValidationError("--mechanism names at least one SCRAM mechanism") }
            return try mechanism.split(separator: ",").map { name in
                guard let mechanism = ScramMechanism(rawValue: name.trimmingCharacters(in: .whitespaces).uppercased()) else {
                    throw ValidationError("unknown SCRAM mechanism '\(name)' (SCRAM-SHA-256, SCRAM-SHA-512)")
                }
                return mechanism
            }
        }

        /// The password, from the first line of standard input: never an argument, which every
        /// user of the machine can read in the process list.
        func readPassword() throws -> String {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("the password is read from standard input (one line, not empty)")
            }
            return line
        }

        /// Stores the credentials of every mechanism asked for in one durable write, replacing
        /// all the user had: a new password leaves no credential of the old one behind.
        func store(for user: String, in store: CredentialStore) throws {
            let password = try readPassword()
            var credentials: [ScramMechanism: ScramCredential] = [:]
            for mechanism in try mechanisms() {
                credentials[mechanism] = try ScramCredential.make(password: password, mechanism: mechanism, iterations: iterations)
            }
            try store.replace(user, with: credentials)
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; the password is read from standard input.")
        @Argument(help: "User name (the principal is User:NAME).") var name: String
        @OptionGroup var location: Location
        @OptionGroup var secret: Secret

        func run() throws {
            if let problem = CredentialStore.userNameProblem(name) { throw ValidationError(problem) }
            try location.withStore { store in
                guard !store.users.contains(where: { $0.name == name }) else { throw ValidationError("user \(name) exists (stele users passwd changes a password)") }
                try secret.store(for: name, in: store)
            }
            print("created User:\(name)")
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password; the new one is read from standard input.")
        @Argument(help: "User name.") var name: String
        @OptionGroup var location: Location
        @OptionGroup var secret: Secret

        func run() throws {
            try location.withStore { store in
                guard store.users.contains(where: { $0.name == name }) else { throw ValidationError("no user \(name)") }
                try secret.store(for: name, in: store)
            }
            print("changed the password of User:\(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their mechanisms (never a secret).")
        @OptionGroup var location: Location

        func run() throws {
            try location.withStore { store in
                for user in store.users {
                    print("User:\(user.name)\t" + user.credentials.map { "\($0.mechanism.rawValue) (\($0.iterations) iterations)" }.joined(separator: ", "))
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user, or one mechanism's credential of it.")
        @Argument(help: "User name.") var name: String
        @Option(help: "Only this mechanism's credential.") var mechanism: String?
        @OptionGroup var location: Location

        func run() throws {
            let only = try mechanism.map { name in
                guard let mechanism = ScramMechanism(rawValue: name.uppercased()) else { throw ValidationError("unknown SCRAM mechanism '\(name)'") }
                return mechanism
            }
            let removed = try location.withStore { try $0.delete(name, mechanism: only) }
            guard removed else { throw ValidationError("no \(only.map { "\($0.rawValue) credential of " } ?? "")user \(name)") }
            print("deleted \(only.map { "the \($0.rawValue) credential of " } ?? "")User:\(name)")
        }
    }
}
