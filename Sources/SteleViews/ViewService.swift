import Foundation
import Synchronization
import SteleStore

/// The views a server runs: every definition of a directory, each started on its own, so one
/// that fails (a refused definition, a statement its store rejects, an event that stops it)
/// leaves the others running.
public final class ViewService: Sendable {
    let store: EventStore
    let makeLocation: @Sendable (String) throws -> any ViewLocation
    private let state = Mutex<(views: [String: MaterializedView], problems: [ViewDefinitionError])>(([:], []))

    /// - Parameter makeLocation: where a view of this name keeps its tables.
    public init(store: EventStore, makeLocation: @escaping @Sendable (String) throws -> any ViewLocation) {
        self.store = store
        self.makeLocation = makeLocation
    }

    /// Loads the definition files of `directory` and starts their views; returns the files
    /// refused and the views that failed to start (each with file, line and reason when known).
    @discardableResult
    public func start(directory: String, batchSize: Int = 1000) async throws(ViewDefinitionError) -> [String] {
        let loaded = try ViewDirectory.load(directory)
        var problems = loaded.problems.map(\.description)
        for definition in loaded.definitions {
            do {
                let view = MaterializedView(projection: definition, store: store, location: try makeLocation(definition.name), batchSize: batchSize)
                state.withLock { $0.views[definition.name] = view }
                try await view.start()
            } catch {
                problems.append("view \(definition.name) (\(definition.file)): \(error)")
            }
        }
        state.withLock { $0.problems = loaded.problems }
        return problems
    }

    /// Starts one view (a Swift projection, or a definition given in code).
    public func start(_ projection: any Projection, batchSize: Int = 1000) async throws -> MaterializedView {
        let view = MaterializedView(projection: projection, store: store, location: try makeLocation(projection.name), batchSize: batchSize)
        guard state.withLock({ state in
            guard state.views[projection.name] == nil else { return false }
            state.views[projection.name] = view
            return true
        }) else { throw ViewError.store("a view named \(projection.name) is already running") }
        try await view.start()
        return view
    }

    public func view(named name: String) -> MaterializedView? { state.withLock { $0.views[name] } }

    /// The views, in name order.
    public var views: [MaterializedView] { state.withLock { $0.views.values.sorted { $0.name < $1.name } } }

    /// Definition files that were refused.
    public var refusedDefinitions: [ViewDefinitionError] { state.withLock { $0.problems } }

    public func stop() async {
        for view in views { await view.stop() }
    }
}
