import ArgumentParser
import Foundation
import SteleBroker
import SteleLog
import SteleSecurity

/// `stele acls`: the ACLs `--authorizer acl` decides with, kept in the data directory (a
/// stopped server's: the command takes the directory's lock). A running server's ACLs are
/// changed with Kafka's admin clients (CreateAcls, DescribeAcls, DeleteAcls).
struct AclsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acls",
        abstract: "Manage the ACLs that 'serve --authorizer acl' decides with (DATA/security/acls.json).",
        subcommands: [Add.self, List.self, Remove.self])

    struct Location: ParsableArguments {
        @Option(help: "Data directory of a stopped server.")
        var dataDir = "./stele-data"

        func withStore<T>(_ body: (AclStore) throws -> T) throws -> T {
            guard FileManager.default.fileExists(atPath: dataDir) else { throw ValidationError("no data directory at \(dataDir)") }
            let lock: DataDirectoryLock
            do { lock = try DataDirectoryLock.acquire(dataDir) } catch {
                throw ValidationError("\(error); stop the server first, or change a running server's ACLs with a Kafka admin client")
            }
            defer { lock.release() }
            let store = AclStore(directory: dataDir)
            if let problem = store.problem { throw ValidationError(problem) }
            return try body(store)
        }
    }

    /// The resource an ACL names: exactly one of --topic, --group, --transactional-id, --cluster.
    struct Resource: ParsableArguments {
        @Option(help: "A topic (or, with --prefixed, every topic starting with it; '*' is every topic).") var topic: String?
        @Option(help: "A consumer group (same rules).") var group: String?
        @Option(help: "A transactional id (same rules).") var transactionalId: String?
        @Option(help: "A view of the HTTP API (same rules): READ queries it, DESCRIBE shows it, ALTER rebuilds it.") var view: String?
        @Flag(help: "The cluster itself (creating topics, listing groups, changing ACLs, idempotent writes).") var cluster = false
        @Flag(help: "The name is a prefix: the ACL covers every resource whose name starts with it.") var prefixed = false

        func resource(required: Bool) throws -> (AclResourceType, String)? {
            var named: [(AclResourceType, String)] = []
            if let topic { named.append((.topic, topic)) }
            if let group { named.append((.group, group)) }
            if let transactionalId { named.append((.transactionalId, transactionalId)) }
            if let view { named.append((.view, view)) }
            if cluster { named.append((.cluster, AclResourceType.clusterName)) }
            guard named.count <= 1 else { throw ValidationError("name one resource: --topic, --group, --transactional-id, --view or --cluster") }
            if named.isEmpty && required { throw ValidationError("name a resource: --topic, --group, --transactional-id, --view or --cluster") }
            if cluster && prefixed { throw ValidationError("--prefixed does not apply to --cluster") }
            return named.first
        }
    }

    static func operations(_ names: [String]) throws -> [AclOperation] {
        try names.flatMap { $0.split(separator: ",") }.map { name in
            guard let operation = AclOperation(name: String(name).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown operation '\(name)' (\(AclOperation.allCases.map(\.description).joined(separator: ", ")))")
            }
            return operation
        }
    }

    /// Not split at commas: a certificate's principal has them (`User:CN=alice,O=Example`).
    static func principals(_ texts: [String]) throws -> [String] {
        try texts.map { text in
            let text = text.trimmingCharacters(in: .whitespaces)
            guard Principal(text) != nil else { throw ValidationError("'\(text)' is not a principal (User:alice, User:*)") }
            return text
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allow (or, with --deny, deny) principals operations on a resource.")
        @Option(help: "Principal, e.g. User:alice or User:* (repeatable).") var principal: [String] = []
        @Option(help: "Operation: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CLUSTER_ACTION or ALL (repeatable).") var operation: [String] = []
        @Option(help: "The client address the ACL applies to ('*': any).") var host = "*"
        @Flag(help: "A DENY ACL: it wins over every ALLOW.") var deny = false
        @OptionGroup var resource: Resource
        @OptionGroup var location: Location

        func run() throws {
            let principals = try AclsCommand.principals(principal)
            let operations = try AclsCommand.operations(operation)
            guard !principals.isEmpty else { throw ValidationError("--principal is required") }
            guard !operations.isEmpty else { throw ValidationError("--operation is required") }
            let (type, name) = try resource.resource(required: true)!
            let bindings = principals.flatMap { principal in
                operations.map { operation in
                    AclBinding(resourceType: type, resourceName: name, patternType: resource.prefixed ? .prefixed : .literal,
                               principal: principal, host: host, operation: operation, permission: deny ? .deny : .allow)
                }
            }
            for binding in bindings { if let problem = binding.problem { throw ValidationError(problem) } }
            let added = try location.withStore { try $0.add(bindings) }
            for binding in bindings { print("added \(binding)") }
            if added < bindings.count { print("(\(bindings.count - added) already there)") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List ACLs, all or those naming a principal or a resource.")
        @Option(help: "Only this principal's ACLs.") var principal: String?
        @OptionGroup var resource: Resource
        @OptionGroup var location: Location

        func run() throws {
            var filter = AclBindingFilter(principal: principal)
            if let (type, name) = try resource.resource(required: false) {
                filter.resourceType = type
                filter.resourceName = name
                // A name lists every ACL that covers it (its literal ACLs, `*` and prefixes of
                // it), as Kafka's MATCH filter: what decides for that resource.
                filter.pattern = resource.prefixed ? .exactly(.prefixed) : .match
            }
            let bindings = try location.withStore { $0.bindings ?? [] }.filter(filter.matches)
            for binding in bindings { print(binding) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the ACLs on a resource, all or those of given principals and operations.")
        @Option(help: "Only this principal's ACLs (repeatable).") var principal: [String] = []
        @Option(help: "Only these operations (repeatable).") var operation: [String] = []
        @Option(help: "Only ACLs for this host.") var host: String?
        @Flag(help: "Only DENY ACLs.") var deny = false
        @OptionGroup var resource: Resource
        @OptionGroup var location: Location

        func run() throws {
            let (type, name) = try resource.resource(required: true)!
            let principals: [String?] = try AclsCommand.principals(principal).map { $0 }
            let operations: [AclOperation?] = try AclsCommand.operations(operation).map { $0 }
            let filters = (principals.isEmpty ? [nil] : principals).flatMap { principal in
                (operations.isEmpty ? [nil] : operations).map { operation in
                    AclBindingFilter(resourceType: type, resourceName: name, pattern: .exactly(resource.prefixed ? .prefixed : .literal),
                                     principal: principal, host: host, operation: operation, permission: deny ? .deny : nil)
                }
            }
            let removed = try location.withStore { try $0.remove(matching: filters) }.flatMap { $0 }
            guard !removed.isEmpty else { throw ValidationError("no ACL matches") }
            var seen = Set<AclBinding>()
            for binding in removed where seen.insert(binding).inserted { print("removed \(binding)") }
        }
    }
}
