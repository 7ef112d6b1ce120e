import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SteleLog
import SteleSecurity

/// The broker's ACLs, kept in `DATA/security/acls.json`. Every change is written whole and
/// durably before it is used. A file that cannot be read is reported in ``problem`` and left
/// as it is; meanwhile ``bindings`` is nil and the server denies everyone but super users
/// (fail closed: a damaged file must neither become an empty one nor open the broker).
public final class AclStore: Sendable {
    public let path: String
    private let fileSystem: any FileSystem
    private let state: Mutex<State>

    struct State {
        var bindings: [AclBinding] = []
        var problem: String?
    }

    /// The file's format: a newer one is refused rather than misread.
    static let format = 1

    public init(directory: String, fileSystem: any FileSystem = POSIXFileSystem()) {
        self.path = directory + "/security/acls.json"
        self.fileSystem = fileSystem
        var state = State()
        if fileSystem.fileExists(path) {
            do {
                state.bindings = try Self.decode(try fileSystem.readFile(path))
            } catch {
                state.problem = "\(path) cannot be read (\(error)); only super users are authorized until it is repaired or removed"
            }
        }
        self.state = Mutex(state)
    }

    /// Why the ACLs cannot be used, if they cannot.
    public var problem: String? { state.withLock { $0.problem } }

    /// Every binding, in the order they were added; nil while ``problem`` is set.
    public var bindings: [AclBinding]? {
        state.withLock { $0.problem == nil ? $0.bindings : nil }
    }

    /// Adds the bindings not already there, durably, in one write. Returns how many were new.
    @discardableResult
    public func add(_ bindings: [AclBinding]) throws -> Int {
        for binding in bindings {
            if let problem = binding.problem { throw SecurityConfigurationError(problem) }
        }
        var added = 0
        try change { stored in
            for binding in bindings where !stored.contains(binding) {
                stored.append(binding)
                added += 1
            }
        }
        return added
    }

    /// Removes every binding each filter matches, durably, in one write; returns what each
    /// filter removed.
    @discardableResult
    public func remove(matching filters: [AclBindingFilter]) throws -> [[AclBinding]] {
        var removed: [[AclBinding]] = []
        try change { stored in
            removed = filters.map { filter in stored.filter(filter.matches) }
            stored.removeAll { binding in filters.contains { $0.matches(binding) } }
        }
        return removed
    }

    private func change(_ body: (inout [AclBinding]) -> Void) throws {
        try state.withLock { state in
            if let problem = state.problem { throw SecurityConfigurationError(problem) }
            var bindings = state.bindings
            body(&bindings)
            guard bindings != state.bindings else { return }
            let directory = String(path[..<path.lastIndex(of: "/")!])
            try fileSystem.createDirectoryDurably(directory)
            if fileSystem is POSIXFileSystem { _ = chmod(directory, 0o700) }
            try fileSystem.writeFileDurably(path, contents: try Self.encode(bindings))
            state.bindings = bindings
        }
    }

    struct File: Codable {
        var format: Int
        var acls: [Entry]
    }

    /// A binding as the file spells it: names, not Kafka's numbers, so an operator can read it.
    struct Entry: Codable {
        var resourceType: String
        var resourceName: String
        var patternType: String
        var principal: String
        var host: String
        var operation: String
        var permission: String

        enum CodingKeys: String, CodingKey {
            case resourceType = "resource_type", resourceName = "resource_name", patternType = "pattern_type"
            case principal, host, operation, permission
        }
    }

    static func encode(_ bindings: [AclBinding]) throws -> [UInt8] {
        let file = File(format: format, acls: bindings.map {
            Entry(resourceType: $0.resourceType.description, resourceName: $0.resourceName, patternType: $0.patternType.description,
                  principal: $0.principal, host: $0.host, operation: $0.operation.description, permission: $0.permission.description)
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(file)) + [UInt8(ascii: "\n")]
    }

    static func decode(_ bytes: [UInt8]) throws -> [AclBinding] {
        let file = try JSONDecoder().decode(File.self, from: Data(bytes))
        guard file.format == format else { throw SecurityConfigurationError("format \(file.format) is not \(format) (written by a newer Stele?)") }
        return try file.acls.enumerated().map { index, entry in
            func bad(_ field: String, _ value: String) -> SecurityConfigurationError {
                SecurityConfigurationError("ACL \(index + 1): unknown \(field) '\(value)'")
            }
            guard let type = AclResourceType.allCases.first(where: { $0.description == entry.resourceType }) else { throw bad("resource type", entry.resourceType) }
            guard let pattern = AclPatternType.allCases.first(where: { $0.description == entry.patternType }) else { throw bad("pattern type", entry.patternType) }
            guard let operation = AclOperation(name: entry.operation) else { throw bad("operation", entry.operation) }
            guard let permission = AclPermission.allCases.first(where: { $0.description == entry.permission }) else { throw bad("permission", entry.permission) }
            let binding = AclBinding(resourceType: type, resourceName: entry.resourceName, patternType: pattern, principal: entry.principal,
                                     host: entry.host, operation: operation, permission: permission)
            if let problem = binding.problem { throw SecurityConfigurationError("ACL \(index + 1): \(problem)") }
            return binding
        }
    }
}
