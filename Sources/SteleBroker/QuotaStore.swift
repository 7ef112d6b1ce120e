import Foundation
import Synchronization
import SteleLog

/// The client quotas, kept in `DATA/quotas.json`; every change is written whole and durably
/// before it applies. A file that cannot be read is reported in ``problem`` and left as it is:
/// changes are refused and no quota is in force (``quotas`` is empty), so `stele serve`
/// refuses to start on it rather than serve every client unthrottled.
public final class QuotaStore: Sendable {
    public let path: String
    private let fileSystem: any FileSystem
    private let state: Mutex<(quotas: ClientQuotas, problem: String?)>

    /// The file's format: a newer one is refused rather than misread.
    static let format = 1

    public init(directory: String, fileSystem: any FileSystem = POSIXFileSystem()) {
        self.path = directory + "/quotas.json"
        self.fileSystem = fileSystem
        var loaded = (quotas: ClientQuotas(), problem: String?.none)
        if fileSystem.fileExists(path) {
            do { loaded.quotas = try Self.decode(try fileSystem.readFile(path)) } catch {
                loaded.problem = "\(path) cannot be read (\(error)); no quota is enforced until it is repaired or removed"
            }
        }
        self.state = Mutex(loaded)
    }

    public var problem: String? { state.withLock { $0.problem } }

    /// The quotas in force (none while ``problem`` is set).
    public var quotas: ClientQuotas { state.withLock { $0.problem == nil ? $0.quotas : ClientQuotas() } }

    /// Applies `changes` to each entity, durably, in one write; nothing changes unless every
    /// entity's changes are valid (``ClientQuotas/problem(entity:changes:)``).
    public func alter(_ alterations: [(entity: QuotaEntity, changes: [ClientQuotas.Change])], validateOnly: Bool = false) throws {
        for (entity, changes) in alterations {
            if let problem = ClientQuotas.problem(entity: entity, changes: changes) { throw BrokerError.invalidConfig(problem) }
        }
        try state.withLock { state in
            if let problem = state.problem { throw BrokerError.storage(problem) }
            var quotas = state.quotas
            for (entity, changes) in alterations { quotas = quotas.applying(changes, to: entity) }
            guard !validateOnly, quotas != state.quotas else { return }
            do { try fileSystem.writeFileDurably(path, contents: try Self.encode(quotas)) } catch {
                throw BrokerError.storage("writing \(path): \(error)")
            }
            state.quotas = quotas
        }
    }

    struct File: Codable {
        var format: Int
        var quotas: [Entry]
    }

    /// An entity as the file spells it: `user` and `client_id` hold a name; the default is
    /// `default_user`/`default_client_id` set to true, so no name (not even `<default>`) is reserved.
    struct Entry: Codable {
        var user: String?
        var defaultUser: Bool?
        var clientId: String?
        var defaultClientId: Bool?
        var values: [String: Double]

        enum CodingKeys: String, CodingKey {
            case user, defaultUser = "default_user", clientId = "client_id", defaultClientId = "default_client_id", values
        }
    }

    static func encode(_ quotas: ClientQuotas) throws -> [UInt8] {
        let entries = quotas.values.sorted { $0.key.description < $1.key.description }.map { entity, values in
            Entry(user: entity.user?.wire, defaultUser: entity.user == .defaultName ? true : nil,
                  clientId: entity.clientId?.wire, defaultClientId: entity.clientId == .defaultName ? true : nil,
                  values: Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, $0.value) }))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(File(format: format, quotas: entries))) + [UInt8(ascii: "\n")]
    }

    static func decode(_ bytes: [UInt8]) throws -> ClientQuotas {
        let file = try JSONDecoder().decode(File.self, from: Data(bytes))
        guard file.format == format else { throw BrokerError.storage("format \(file.format) is not \(format) (written by a newer Stele?)") }
        var quotas = ClientQuotas()
        for (index, entry) in file.quotas.enumerated() {
            func name(_ named: String?, _ isDefault: Bool?) -> QuotaEntityName? {
                isDefault == true ? .defaultName : named.map(QuotaEntityName.named)
            }
            let entity = QuotaEntity(user: name(entry.user, entry.defaultUser), clientId: name(entry.clientId, entry.defaultClientId))
            let changes = entry.values.sorted { $0.key < $1.key }.map { ClientQuotas.Change(key: $0.key, value: $0.value, remove: false) }
            if let problem = ClientQuotas.problem(entity: entity, changes: changes) { throw BrokerError.storage("quota \(index + 1): \(problem)") }
            quotas = quotas.applying(changes, to: entity)
        }
        return quotas
    }
}
