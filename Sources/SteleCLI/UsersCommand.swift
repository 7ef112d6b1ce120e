import ArgumentParser
import Foundation
import SteleBroker
import SteleKafkaProtocol
import SteleLog
import SteleSecurity
import SteleServer

/// `stele users`: the SCRAM users SASL listeners authenticate, kept in the data directory — a
/// stopped server's (the command takes the directory's lock), or a running one's through the
/// admin API (`--bootstrap`, DescribeUserScramCredentials and AlterUserScramCredentials, as
/// kafka-configs.sh does).
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Manage the users SASL listeners authenticate (SCRAM credentials in DATA/security).",
        subcommands: [Create.self, Passwd.self, List.self, Delete.self])

    struct Location: ParsableArguments {
        @Option(help: "Data directory of a stopped server.")
        var dataDir = "./stele-data"

        @Option(name: [.customLong("bootstrap"), .customLong("bootstrap-server")],
                help: "A running server's Kafka listener (host:port): change users through its admin API instead of --data-dir.")
        var bootstrap: String?

        @Option(help: "Client properties for --bootstrap, as Kafka's tools take them: security.protocol, sasl.mechanism, sasl.username, sasl.password (or sasl.jaas.config), ssl.ca.location.")
        var commandConfig: String?

        /// The admin client for `--bootstrap`, or nil to work on the data directory.
        func admin() throws -> UsersAdmin? {
            guard let bootstrap else {
                if commandConfig != nil { throw ValidationError("--command-config goes with --bootstrap") }
                return nil
            }
            let parts = bootstrap.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--bootstrap must be host:port") }
            let security = try commandConfig.map { try KafkaAdminClient.Security.load(properties: $0) } ?? .plaintext
            // A salted password logs in as well as the password: it crosses a network only over TLS.
            if security.tls == nil && !KafkaListener.isLoopback(String(parts[0])) {
                throw ValidationError("--bootstrap \(bootstrap) is not on this machine: use an SSL or SASL_SSL listener (security.protocol in --command-config)")
            }
            return UsersAdmin(client: KafkaAdminClient(host: String(parts[0]), port: port, security: security))
        }

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

        /// The credentials of every mechanism asked for, from `password`.
        func credentials(_ password: String) throws -> [ScramMechanism: ScramCredential] {
            var credentials: [ScramMechanism: ScramCredential] = [:]
            for mechanism in try mechanisms() {
                credentials[mechanism] = try ScramCredential.make(password: password, mechanism: mechanism, iterations: iterations)
            }
            return credentials
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

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; the password is read from standard input.")
        @Argument(help: "User name (the principal is User:NAME).") var name: String
        @OptionGroup var location: Location
        @OptionGroup var secret: Secret

        func run() async throws {
            if let problem = CredentialStore.userNameProblem(name) { throw ValidationError(problem) }
            if let admin = try location.admin() {
                guard try await admin.describe([name]).first?.errorCode == .resourceNotFound else {
                    throw ValidationError("user \(name) exists (stele users passwd changes a password)")
                }
                try await admin.set(name, password: try secret.readPassword(), secret: secret, replacing: [])
                print("created User:\(name)")
                return
            }
            try location.withStore { store in
                guard !store.users.contains(where: { $0.name == name }) else { throw ValidationError("user \(name) exists (stele users passwd changes a password)") }
                try secret.store(for: name, in: store)
            }
            print("created User:\(name)")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password; the new one is read from standard input.")
        @Argument(help: "User name.") var name: String
        @OptionGroup var location: Location
        @OptionGroup var secret: Secret

        func run() async throws {
            if let admin = try location.admin() {
                guard let found = try await admin.describe([name]).first, found.errorCode == .none else { throw ValidationError("no user \(name)") }
                try await admin.set(name, password: try secret.readPassword(), secret: secret,
                                    replacing: found.credentials.compactMap { ScramMechanism(kafkaType: $0.mechanism) })
                print("changed the password of User:\(name)")
                return
            }
            try location.withStore { store in
                guard store.users.contains(where: { $0.name == name }) else { throw ValidationError("no user \(name)") }
                try secret.store(for: name, in: store)
            }
            print("changed the password of User:\(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their mechanisms (never a secret).")
        @OptionGroup var location: Location

        func run() async throws {
            if let admin = try location.admin() {
                for user in try await admin.describe(nil) where user.errorCode == .none {
                    print("User:\(user.user)\t" + user.credentials.compactMap { info in
                        ScramMechanism(kafkaType: info.mechanism).map { "\($0.rawValue) (\(info.iterations) iterations)" }
                    }.joined(separator: ", "))
                }
                return
            }
            try location.withStore { store in
                for user in store.users {
                    print("User:\(user.name)\t" + user.credentials.map { "\($0.mechanism.rawValue) (\($0.iterations) iterations)" }.joined(separator: ", "))
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user, or one mechanism's credential of it.")
        @Argument(help: "User name.") var name: String
        @Option(help: "Only this mechanism's credential.") var mechanism: String?
        @OptionGroup var location: Location

        func run() async throws {
            let only = try mechanism.map { name in
                guard let mechanism = ScramMechanism(rawValue: name.uppercased()) else { throw ValidationError("unknown SCRAM mechanism '\(name)'") }
                return mechanism
            }
            if let admin = try location.admin() {
                guard let found = try await admin.describe([name]).first, found.errorCode == .none else { throw ValidationError("no user \(name)") }
                let have = found.credentials.compactMap { ScramMechanism(kafkaType: $0.mechanism) }
                let doomed = only.map { [$0] } ?? have
                guard doomed.allSatisfy(have.contains) else { throw ValidationError("no \(only?.rawValue ?? "") credential of user \(name)") }
                try await admin.alter(AlterUserScramCredentialsRequest(
                    deletions: doomed.map { .init(name: name, mechanism: $0.kafkaType) }, upsertions: []))
                print("deleted \(only.map { "the \($0.rawValue) credential of " } ?? "")User:\(name)")
                return
            }
            let removed = try location.withStore { try $0.delete(name, mechanism: only) }
            guard removed else { throw ValidationError("no \(only.map { "\($0.rawValue) credential of " } ?? "")user \(name)") }
            print("deleted \(only.map { "the \($0.rawValue) credential of " } ?? "")User:\(name)")
        }
    }
}

/// `stele users` against a running server: the SCRAM-credential admin APIs over the Kafka
/// protocol. The password is salted and hashed here; only the salted password travels.
struct UsersAdmin {
    let client: KafkaAdminClient

    func describe(_ users: [String]?) async throws -> [DescribeUserScramCredentialsResponse.Result] {
        let response = try await client.request(.describeUserScramCredentials, version: 0, flexible: true,
                                                 body: { DescribeUserScramCredentialsRequest(users: users).encode(&$0) },
                                                 decode: { try DescribeUserScramCredentialsResponse.decode(&$0) })
        guard response.errorCode == .none else {
            throw ValidationError("the server refused to describe users: \(response.errorMessage ?? "\(response.errorCode)")")
        }
        return response.results
    }

    /// Sets the credentials `secret` asks for and deletes the user's other ones (`replacing`),
    /// in one request.
    func set(_ user: String, password: String, secret: UsersCommand.Secret, replacing: [ScramMechanism]) async throws {
        let mechanisms = try secret.mechanisms()
        var generator = SystemRandomNumberGenerator()
        let upsertions = mechanisms.map { mechanism -> AlterUserScramCredentialsRequest.Upsertion in
            let salt = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            return .init(name: user, mechanism: mechanism.kafkaType, iterations: Int32(secret.iterations), salt: salt,
                         saltedPassword: mechanism.saltedPassword(password, salt: salt, iterations: secret.iterations))
        }
        let deletions = replacing.filter { !mechanisms.contains($0) }.map { AlterUserScramCredentialsRequest.Deletion(name: user, mechanism: $0.kafkaType) }
        try await alter(AlterUserScramCredentialsRequest(deletions: deletions, upsertions: upsertions))
    }

    func alter(_ request: AlterUserScramCredentialsRequest) async throws {
        let response = try await client.request(.alterUserScramCredentials, version: 0, flexible: true,
                                                 body: { request.encode(&$0) },
                                                 decode: { try AlterUserScramCredentialsResponse.decode(&$0) })
        for result in response.results where result.errorCode != .none {
            throw ValidationError("the server refused to change user \(result.user): \(result.errorMessage ?? "\(result.errorCode)")")
        }
    }
}
