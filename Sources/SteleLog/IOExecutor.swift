import Foundation
import Synchronization

/// A small pool of threads for blocking file I/O, so that `pread`, `pwrite` and `fdatasync`
/// never occupy a thread of Swift's cooperative pool (which has one thread per core: on a
/// 2-core machine two blocked fsyncs would stall every task in the process).
///
/// Jobs run in submission order on whichever thread is free. Shared by every partition of a
/// process; a partition's writer keeps at most one job queued at a time (see `AppendQueue`).
public final class IOExecutor: Sendable {
    /// Threads a process-wide executor uses by default. Threads mostly sleep in fsync or pread,
    /// so more threads than cores keeps partitions from waiting on one another's syncs.
    public static let defaultThreadCount = 8
    public static let shared = IOExecutor(threadCount: defaultThreadCount, name: "stele-io")
    /// Retention and compaction run here, one job at a time, so a long compaction never holds
    /// the threads that appends and reads need.
    public static let maintenance = IOExecutor(threadCount: 1, name: "stele-maintenance")

    private let state: Mutex<State>
    private let condition = NSCondition()
    private let name: String

    private struct State: ~Copyable {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopping = false
    }

    public init(threadCount: Int, name: String = "stele-io") {
        precondition(threadCount > 0)
        self.state = Mutex(State())
        self.name = name
        for index in 0..<threadCount {
            let thread = Thread { [self] in self.runLoop() }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Queues `job` to run on an I/O thread.
    /// After ``shutdown()`` the job runs on the caller's thread, so that no caller waits forever.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        let accepted = state.withLock { state -> Bool in
            if state.stopping { return false }
            state.jobs.append(job)
            return true
        }
        condition.signal()
        condition.unlock()
        if !accepted { job() }
    }

    /// Runs `body` on an I/O thread and returns its result to the calling task.
    /// Runs `body` on one of the threads and waits for it.
    public func runIgnoringErrors(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            submit {
                body()
                continuation.resume()
            }
        }
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Stops the threads once the queued jobs have run. The shared executor is never shut down.
    public func shutdown() {
        condition.lock()
        state.withLock { $0.stopping = true }
        condition.broadcast()
        condition.unlock()
    }

    private func runLoop() {
        while true {
            condition.lock()
            var job: (@Sendable () -> Void)?
            while true {
                let (next, stop) = state.withLock { state -> ((@Sendable () -> Void)?, Bool) in
                    if state.head < state.jobs.count {
                        let job = state.jobs[state.head]
                        state.head += 1
                        // Compact now and then so the queue's memory stays bounded.
                        if state.head > 1024 && state.head * 2 > state.jobs.count {
                            state.jobs.removeFirst(state.head)
                            state.head = 0
                        }
                        return (job, false)
                    }
                    return (nil, state.stopping)
                }
                if let next { job = next; break }
                if stop { condition.unlock(); return }
                condition.wait()
            }
            condition.unlock()
            job?()
        }
    }
}
