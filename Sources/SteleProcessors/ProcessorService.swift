import Foundation
import Synchronization
import SteleLog
import SteleProcessing
import SteleStore
import SteleWire

/// The processors a server runs: every processor file of a directory, each on its own task, so
/// one that fails (a store error, a full disk) leaves the others running and retries by itself.
///
/// Each keeps two small files in the state directory: `NAME.state` (the definition's
/// fingerprint and the generation) and its checkpoint, named by generation. A rebuild — asked
/// for, or because the definition changed — starts a new generation: a checkpoint that does not
/// exist yet (so a replay from the start) and new output ids, decided by one durable write of
/// the state file, so a crash anywhere in it leaves the old generation or the new one whole.
public final class ProcessorService: Sendable {
    let store: EventStore
    let stateDirectory: String
    private let state = Mutex<(processors: [String: RunningProcessor], problems: [ProcessorDefinitionError])>(([:], []))

    public init(store: EventStore, stateDirectory: String) {
        self.store = store
        self.stateDirectory = stateDirectory
    }

    /// Loads the processor files of `directory` (those with `-- @processor`) and starts them;
    /// returns the files refused and the processors that could not start.
    @discardableResult
    public func start(directory: String) async -> [String] {
        let files: [String]
        do { files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted() } catch {
            let problem = ProcessorDefinitionError(file: directory, line: 0, reason: "cannot list the directory: \(error.localizedDescription)")
            state.withLock { $0.problems = [problem] }
            return [problem.description]
        }
        var problems: [ProcessorDefinitionError] = []
        var started: [String] = []
        for file in files {
            let path = directory + "/" + file
            guard let text = try? String(contentsOf: URL(fileURLWithPath: path), encoding: .utf8), ProcessorDefinition.declaresProcessor(text) else { continue }
            do {
                let definition = try ProcessorDefinition.parse(text, file: path)
                guard state.withLock({ $0.processors[definition.name] == nil }) else {
                    problems.append(ProcessorDefinitionError(file: path, line: 1, reason: "processor \(definition.name) is already defined"))
                    continue
                }
                try start(definition)
                started.append(definition.name)
            } catch let error as ProcessorDefinitionError {
                problems.append(error)
            } catch {
                problems.append(ProcessorDefinitionError(file: path, line: 0, reason: "cannot start: \(error)"))
            }
        }
        state.withLock { $0.problems = problems }
        return problems.map(\.description)
    }

    /// Starts one processor (a definition given in code, or from a file).
    public func start(_ definition: ProcessorDefinition) throws {
        let files = try ProcessorFiles(directory: stateDirectory, name: definition.name)
        let running = RunningProcessor(definition: definition, store: store, files: files)
        guard state.withLock({ state in
            guard state.processors[definition.name] == nil else { return false }
            state.processors[definition.name] = running
            return true
        }) else { throw ProcessorServiceError.duplicate(definition.name) }
        try running.start()
    }

    public func processor(named name: String) -> RunningProcessor? { state.withLock { $0.processors[name] } }

    /// The processors, in name order.
    public var processors: [RunningProcessor] { state.withLock { $0.processors.values.sorted { $0.name < $1.name } } }

    /// Definition files that were refused, each with its file, line and reason.
    public var refusedDefinitions: [ProcessorDefinitionError] { state.withLock { $0.problems } }

    public func stop() async {
        for processor in processors { await processor.stop() }
    }
}

public enum ProcessorServiceError: Error, CustomStringConvertible {
    case duplicate(String)
    case rebuilding(String)
    case stopped(String)
    /// A file the processor needs to go on vanished; it does not run until restored or rebuilt.
    case vanished(String, String)
    public var description: String {
        switch self {
        case let .vanished(name, problem): "processor \(name): \(problem)"
        case let .duplicate(name): "a processor named \(name) is already running"
        case let .rebuilding(name): "processor \(name) is already starting a rebuild"
        case let .stopped(name): "processor \(name) is stopped (the server is stopping)"
        }
    }
}

/// A processor's files in the state directory.
struct ProcessorFiles: Sendable {
    let directory: String
    let name: String
    let checkpoints: FileCheckpointStore
    private let fileSystem = POSIXFileSystem()

    init(directory: String, name: String) throws {
        (self.directory, self.name) = (directory, name)
        checkpoints = try FileCheckpointStore(directory: directory)
    }

    struct State: Codable, Equatable {
        var fingerprint: String
        var generation: Int
        /// The generation's checkpoint has been saved: from then on it must be there, and one
        /// that vanished stops the processor instead of replaying from the start. `nil` in a
        /// state file written before this was kept (its checkpoint is not checked).
        var checkpointed: Bool?
    }

    var statePath: String { directory + "/" + name + ".state" }

    func loadState() throws -> State? {
        guard fileSystem.fileExists(statePath) else { return nil }
        do { return try JSONDecoder().decode(State.self, from: Data(try fileSystem.readFile(statePath))) } catch {
            throw ProcessorServiceError.corruptState(statePath, "\(error)")
        }
    }

    func save(_ state: State) throws {
        try fileSystem.writeFileDurably(statePath, contents: Array(try JSONEncoder().encode(state)))
    }

    /// The name a generation's checkpoint is kept under.
    func checkpointName(_ generation: Int) -> String { "\(name).g\(generation)" }

    /// The checkpoints that say where a generation's run goes on: a window processor's own, or a
    /// pattern or join processor's replay slot. Whichever is saved first must stay.
    func commitNames(_ generation: Int) -> [String] { [checkpointName(generation), checkpointName(generation) + ".slot"] }

    /// The generations that have checkpoint files of this processor's (its own and its
    /// watermark's, replay records', other sources'), read from the directory.
    func generationsOnDisk() throws -> [Int] {
        let prefix = FileCheckpointStore.fileStem(name + ".g")
        return try fileSystem.contentsOfDirectory(directory).compactMap { file -> Int? in
            guard file.hasPrefix(prefix), file.hasSuffix(".checkpoint") else { return nil }
            let digits = file.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
            let rest = file.dropFirst(prefix.count + digits.count)
            guard !digits.isEmpty, rest == ".checkpoint" || rest.hasPrefix("_") else { return nil }
            return Int(digits)
        }
    }

    /// Why the processor must not run from what is on disk, if it must not: a state file that
    /// vanished while checkpoints remain, or a checkpoint that vanished after it was saved. In
    /// both a run would start from the category's start and write every output again (the
    /// store recognises an output by id only among its stream's last events).
    func vanished(_ state: State?) throws -> String? {
        guard let state else {
            guard let highest = try generationsOnDisk().max() else { return nil }
            return "its state file \(statePath) is missing, but checkpoints of generation \(highest) remain in \(directory)"
                + Self.remedy(name)
        }
        if state.checkpointed == true, !commitNames(state.generation).contains(where: checkpoints.contains) {
            return "the checkpoint of generation \(state.generation) (\(checkpointName(state.generation))) is missing from \(directory), "
                + "though it was saved" + Self.remedy(name)
        }
        // A state file put back from an older copy: a later generation's outputs are written.
        if let highest = try generationsOnDisk().max(), highest > state.generation {
            return "its state file \(statePath) names generation \(state.generation), but checkpoints of generation \(highest) are in \(directory)"
                + Self.remedy(name)
        }
        return nil
    }

    static func remedy(_ name: String) -> String {
        "; running from the start would write its outputs again: restore the file, or rebuild (stele processors rebuild \(name)) to write them under a new generation"
    }
}

/// The processor's checkpoints, marking the state file once the generation's own checkpoint
/// is first saved (one more durable write per generation), so one that vanishes later is seen.
final class MarkingCheckpointStore: CheckpointStore {
    let inner: FileCheckpointStore
    let files: ProcessorFiles
    let state: ProcessorFiles.State
    private let marked: Mutex<Bool>

    init(files: ProcessorFiles, state: ProcessorFiles.State) {
        (inner, self.files, self.state) = (files.checkpoints, files, state)
        marked = Mutex(state.checkpointed == true)
    }

    /// A run that starts again after a failure loads here too: a commit checkpoint gone since
    /// it was saved stops it, as at start.
    func load(_ name: String) async throws -> CategoryCheckpoint? {
        let loaded = try await inner.load(name)
        let commits = files.commitNames(state.generation)
        if loaded == nil, commits.contains(name), marked.withLock({ $0 }), !commits.contains(where: inner.contains) {
            throw ProcessorServiceError.vanished(files.name, "the checkpoint \(name) is missing from \(files.directory), though it was saved"
                                                 + ProcessorFiles.remedy(files.name))
        }
        return loaded
    }

    func save(_ checkpoint: CategoryCheckpoint, for name: String) async throws {
        try await inner.save(checkpoint, for: name)
        guard files.commitNames(state.generation).contains(name), !marked.withLock({ $0 }) else { return }
        var checked = state
        checked.checkpointed = true
        do { try files.save(checked) } catch {
            throw EventStoreError.storage("cannot save processor state file \(files.statePath): \(error)")
        }
        marked.withLock { $0 = true }
    }
}

extension ProcessorServiceError {
    static func corruptState(_ path: String, _ reason: String) -> Error {
        EventStoreError.storage("processor state file \(path) cannot be read (\(reason)); it is left as it is")
    }
}

/// One processor of a ``ProcessorService``: its task, its state and what it has done.
public final class RunningProcessor: Sendable {
    public let definition: ProcessorDefinition
    let store: EventStore
    let files: ProcessorFiles

    public enum State: String, Sendable {
        case starting, running, failed, stopped
    }

    struct Status: Sendable {
        var state = State.starting
        var generation = 0
        var progress: WindowProcessor.Progress?
        var lastError: String?
        var task: Task<Void, Never>?
        /// Why the last rebuild happened.
        var rebuildReason: String?
        /// A rebuild is between stopping the old generation and starting the new one.
        var rebuilding = false
    }

    private let status = Mutex(Status())

    public var name: String { definition.name }

    init(definition: ProcessorDefinition, store: EventStore, files: ProcessorFiles) {
        (self.definition, self.store, self.files) = (definition, store, files)
    }

    /// Reads the state file (a changed definition starts a new generation) and starts the task;
    /// when that fails the processor stays listed, failed, with the reason.
    func start() throws {
        do {
            let loaded = try files.loadState()
            var saved = loaded ?? ProcessorFiles.State(fingerprint: definition.fingerprint, generation: 1, checkpointed: false)
            var reason: String?
            if saved.fingerprint != definition.fingerprint {
                // A new generation starts from nothing: what vanished of the old one is not needed.
                let highest = max(saved.generation, try files.generationsOnDisk().max() ?? 0)
                saved = ProcessorFiles.State(fingerprint: definition.fingerprint, generation: highest + 1, checkpointed: false)
                reason = "the definition changed"
            } else if let problem = try files.vanished(loaded) {
                status.withLock { $0.generation = loaded?.generation ?? 0 }
                throw ProcessorServiceError.vanished(name, problem)
            }
            try files.save(saved)
            launch(state: saved, reason: reason)
        } catch {
            update { $0.state = .failed; $0.lastError = "cannot start: \(error)" }
            throw error
        }
    }

    /// Starts the task of `generation`, unless the processor was stopped meanwhile.
    private func launch(state: ProcessorFiles.State, reason: String?) {
        let generation = state.generation
        let checkpoints = MarkingCheckpointStore(files: files, state: state)
        var configured = definition.makeRunnable(store: store, checkpoints: checkpoints, generation: generation == 1 ? "" : "g\(generation)")
        // Each generation has its own checkpoint: a rebuild's starts from nothing.
        configured.checkpointName = files.checkpointName(generation)
        let launched = status.withLock { status -> Bool in
            guard status.state != .stopped else { return false }
            precondition(status.task == nil, "a processor runs one task")
            (status.generation, status.progress, status.state) = (generation, nil, .starting)
            status.rebuildReason = reason ?? status.rebuildReason
            return true
        }
        guard launched else { return }
        let task = Task { [weak self, configured] in
            var processor = configured
            var delay: UInt64 = 500_000_000
            while !Task.isCancelled {
                guard let self else { return }
                processor.onProgress = { [weak self] progress in self?.update { $0.progress = progress; $0.state = .running; $0.lastError = nil } }
                do {
                    try await processor.run()
                    return
                } catch {
                    if Task.isCancelled || error is CancellationError { return }
                    update { $0.state = .failed; $0.lastError = "\(error)" }
                    // A store error (a full disk, say) may pass: try again, backing off to 30 s.
                    try? await Task.sleep(nanoseconds: delay)
                    delay = min(delay * 2, 30_000_000_000)
                }
            }
        }
        let kept = status.withLock { status -> Bool in
            guard status.state != .stopped else { return false }
            status.task = task
            return true
        }
        if !kept { task.cancel() }
    }

    private func update(_ change: (inout Status) -> Void) { status.withLock { change(&$0) } }

    /// Starts over from the category's start under a new generation (new output ids). One
    /// rebuild at a time; none once stopped.
    public func rebuild() async throws {
        let task = try status.withLock { status throws(ProcessorServiceError) -> Task<Void, Never>? in
            guard status.state != .stopped else { throw .stopped(name) }
            guard !status.rebuilding else { throw .rebuilding(name) }
            status.rebuilding = true
            defer { status.task = nil }
            return status.task
        }
        defer { update { $0.rebuilding = false } }
        task?.cancel()
        await task?.value
        let current = status.withLock { $0.generation }
        let next: ProcessorFiles.State
        do {
            // Above every generation on disk: a processor stopped because its state file
            // vanished does not know its generation, and must not reuse an old one's ids.
            let highest = max(current, try files.loadState()?.generation ?? 0, try files.generationsOnDisk().max() ?? 0)
            next = ProcessorFiles.State(fingerprint: definition.fingerprint, generation: highest + 1, checkpointed: false)
            try files.save(next)
        } catch {
            // The old generation goes on, if it ran; the rebuild did not happen.
            if let running = try? files.loadState(), running.generation == current, (try? files.vanished(running)) == nil {
                launch(state: running, reason: nil)
            }
            update { $0.lastError = "the rebuild could not start: \(error)" }
            throw error
        }
        launch(state: next, reason: "asked for")
    }

    public func stop() async {
        let task = status.withLock { status -> Task<Void, Never>? in
            status.state = .stopped
            defer { status.task = nil }
            return status.task
        }
        task?.cancel()
        await task?.value
    }

    /// The processor's state, generation, progress, lag and last error, as the HTTP API shows it.
    public func statusJSON() async -> JSONValue {
        let current = status.withLock { $0 }
        var members: [String: JSONValue] = [
            "name": .string(name), "file": .string(definition.file), "state": .string(current.state.rawValue),
            "source": .string(definition.source), "output": .string(definition.output), "deadLetters": .string(definition.deadLetters),
            "eventType": .string(definition.eventType), "window": .string(Self.describe(definition)),
            "fingerprint": .string(definition.fingerprint), "generation": .integer(Int64(current.generation)),
            "results": .array(definition.resultNames.map(JSONValue.string)),
        ]
        if let error = current.lastError { members["lastError"] = .string(error) }
        if let reason = current.rebuildReason { members["rebuiltBecause"] = .string(reason) }
        if let progress = current.progress {
            members["checkpoint"] = .string(progress.checkpoint.description)
            members["eventsRead"] = .integer(progress.eventsRead)
            members["windowsWritten"] = .integer(progress.windowsWritten)
            members["deadLettered"] = .integer(progress.deadLettered)
            members["openWindows"] = .integer(Int64(progress.openWindows))
            if progress.watermark != .min { members["watermark"] = .string(ISO8601Milliseconds.format(progress.watermark)) }
            if let end = try? await store.endCheckpoint(of: definition.source) {
                let lag = end.nextOffsets.reduce(Int64(0)) { sum, entry in sum + max(0, entry.value - progress.read.nextOffset(in: entry.key)) }
                members["lag"] = .integer(lag)
            }
        }
        return .object(members)
    }

    static func describe(_ definition: ProcessorDefinition) -> String {
        if let pattern = definition.pattern { return describe(pattern) }
        if case let .join(query) = definition.statement, query.temporal {
            return "\(query.outer ? "LEFT " : "")JOIN \(query.right.source) \(query.right.alias) AS OF \(query.left.alias).\(query.left.time) TO \(query.left.source) \(query.left.alias) ON "
                + "\(query.left.alias).\(query.left.key) = \(query.right.alias).\(query.right.key)"
        }
        if case let .join(query) = definition.statement {
            return "JOIN \(query.left.source) \(query.left.alias) WITH \(query.right.source) \(query.right.alias) ON \(query.left.alias).\(query.left.key) = "
                + "\(query.right.alias).\(query.right.key), \(query.right.alias) within [\(query.lower), \(query.upper)] ms of \(query.left.alias)"
        }
        guard let window = definition.window else { return "" }
        return switch window {
        case let .tumbling(size): "TUMBLE \(size) ms"
        case let .hopping(size, slide): "HOP \(size) ms windows every \(slide) ms"
        case let .session(gap): "SESSION gap \(gap) ms"
        }
    }

    /// `PATTERN (L X* T) WITHIN 300000 ms`
    static func describe(_ pattern: PatternSpec) -> String {
        let terms = pattern.terms.map { term -> String in
            let variables = term.variables.count == 1 ? term.variables[0] : "(" + term.variables.joined(separator: " | ") + ")"
            let quantifier = switch term.quantifier {
            case .one: ""
            case .optional: "?"
            case .oneOrMore: "+"
            case .zeroOrMore: "*"
            case let .between(min, max): max == min ? "{\(min)}" : "{\(min),\(max.map(String.init) ?? "")}"
            }
            return variables + quantifier
        } + (pattern.absent.map { ["!" + $0] } ?? [])
        return "PATTERN (" + terms.joined(separator: " ") + ")" + (pattern.within.map { " WITHIN \($0) ms" } ?? "")
    }
}
