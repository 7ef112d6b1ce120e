/// The business rules of one kind of entity, as two pure functions.
///
/// `decide` validates a command against the current state and answers with the events it
/// causes (or throws to refuse it); `evolve` folds one event into the state. The state is never
/// stored, only derived: `events.reduce(initialState, evolve)`.
public protocol Decider: Sendable {
    associatedtype Command: Sendable
    associatedtype Event: Sendable
    associatedtype State: Sendable

    /// The state of an entity with no events.
    var initialState: State { get }
    func decide(_ command: Command, state: State) throws -> [Event]
    func evolve(_ state: State, _ event: Event) -> State
}

extension Decider {
    /// The state after `events`, from the initial state.
    public func fold<S: Sequence>(_ events: S) -> State where S.Element == Event {
        events.reduce(initialState, evolve)
    }
}
