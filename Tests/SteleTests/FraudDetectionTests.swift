import Foundation
import Testing
import Stele
import SteleCore
import SteleExamples
import Synchronization

/// Fired once; waited for by one task (a test's stop point).
final class StopSignal: Sendable {
    private let fired = Mutex(false)
    func fire() { fired.withLock { $0 = true } }
    func wait() async {
        while !fired.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// `stele demo fraud`: the alerts the three processors write equal, exactly, the alerts computed
/// here from the generated events by plain loops — per account and 10-minute window; per
/// account in time order, the earliest foreign login within 5 minutes before a large transfer
/// (and none again before the transfer); per authorization, no settlement within 15 minutes.
struct FraudDetectionTests {
    typealias Traffic = FraudDetection.Traffic

    static func int(_ event: Traffic, _ key: String) -> Int64 {
        if case let .int(value)? = event.data[key] { return value }
        return 0
    }

    static func text(_ event: Traffic, _ key: String) -> String {
        if case let .text(value)? = event.data[key] { return value }
        return ""
    }

    static func expected(_ traffic: [Traffic]) -> (bursts: Set<String>, transfers: Set<String>, unsettled: Set<String>) {
        let minute: Int64 = 60_000
        var windows: [String: Int64] = [:]
        for event in traffic where event.type == "CashWithdrawn" {
            windows["\(event.stream) \(event.time / (10 * minute) * (10 * minute))", default: 0] += int(event, "amount")
        }
        let bursts = Set(windows.filter { $0.value > 2_000 }.map { "\($0.key) \($0.value)" })

        var transfers: Set<String> = []
        let byAccount = Dictionary(grouping: traffic.filter { ($0.category == "logins" || $0.category == "transfers") && $0.stream != "clock" }, by: \.stream)
        for (account, events) in byAccount {
            var logins: [Traffic] = []
            for event in events.sorted(by: { $0.time < $1.time }) {
                if event.type == "LoginSucceeded" && text(event, "country") != text(event, "homeCountry") { logins.append(event) }
                if event.type == "MoneyTransferred" && int(event, "amount") > 1_000,
                   let login = logins.first(where: { event.time - $0.time <= 5 * minute }) {
                    transfers.insert("\(account) \(login.time) \(event.time) \(int(event, "amount"))")
                    logins = []
                }
            }
        }

        var unsettled: Set<String> = []
        let settlements = Dictionary(grouping: traffic.filter { $0.type == "AuthorizationSettled" }, by: { text($0, "authorization") })
        for event in traffic where event.type == "CardAuthorized" {
            let settled = settlements[text(event, "authorization")]?.contains { $0.time > event.time && $0.time <= event.time + 15 * minute } ?? false
            if !settled { unsettled.insert("\(event.stream) \(text(event, "authorization"))") }
        }
        return (bursts, transfers, unsettled)
    }

    static func millis(_ text: String) -> Int64 {
        guard let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else { return -1 }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    @Test(arguments: [2026, 7] as [UInt64])
    func alertsAreExactlyTheOnesComputedFromTheEvents(seed: UInt64) async throws {
        let path = NSTemporaryDirectory() + "stele-fraud-" + UUID().uuidString
        let store = try await EventStore.open(.embedded(path: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let alerts = try await FraudDetection.run(store: store, seed: seed, print: { _ in })
        try await store.close()
        try Self.compare(alerts, seed: seed)
    }

    /// The three rules stopped at random points and started again from their checkpoints, five
    /// times each (the pattern across logins and transfers included), then run to the end: the
    /// same alerts, each once.
    @Test func stoppedAndRestartedTheRulesWriteTheSameAlerts() async throws {
        let path = NSTemporaryDirectory() + "stele-fraud-" + UUID().uuidString
        let store = try await EventStore.open(.embedded(path: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let seed: UInt64 = 11
        try await FraudDetection.append(FraudDetection.traffic(seed: seed), to: store)
        let checkpoints = InMemoryCheckpointStore()
        var random = SplitMix64(seed: seed)
        for rule in FraudDetection.rules {
            let definition = try ProcessorDefinition.parse(rule, file: "rule.sql")
            for _ in 0..<5 {
                // Stopped once it has read a random number of events past where it started.
                let stopAfter = Int64(100 + random.next() % 900)
                let stop = StopSignal()
                var processor = definition.makeRunnable(store: store, checkpoints: checkpoints)
                processor.onProgress = { progress in if progress.eventsRead >= stopAfter { stop.fire() } }
                // Or once it has caught up, whichever comes first.
                let running = Task { [processor] in
                    defer { stop.fire() }
                    try await processor.runUntilCaughtUp()
                }
                await stop.wait()
                running.cancel()
                _ = await running.result
            }
            try await definition.makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
        }
        let alerts = try await FraudDetection.alerts(in: store)
        try await store.close()
        try Self.compare(alerts, seed: seed)
    }

    static func compare(_ alerts: [String: [RecordedEvent]], seed: UInt64) throws {
        let expected = Self.expected(FraudDetection.traffic(seed: seed))
        func members(_ event: RecordedEvent) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(event.data)) as? [String: Any]) ?? [:]
        }
        let bursts = Set((alerts["WithdrawalBurst"] ?? []).map { event -> String in
            let m = members(event)
            return "\(event.stream.id) \(Self.millis(m["window_start"] as? String ?? "")) \(m["total"] as? Int ?? -1)"
        })
        let transfers = Set((alerts["NewCountryTransfer"] ?? []).map { event -> String in
            let m = members(event)
            return "\(event.stream.id) \(Self.millis(m["loginAt"] as? String ?? "")) \(Self.millis(m["transferAt"] as? String ?? "")) \(m["amount"] as? Int ?? -1)"
        })
        let unsettled = Set((alerts["AuthorizationNotSettled"] ?? []).map { event in "\(event.stream.id) \(members(event)["authorization"] as? String ?? "")" })
        #expect(bursts == expected.bursts)
        #expect(transfers == expected.transfers)
        #expect(unsettled == expected.unsettled)
        #expect((alerts["WithdrawalBurst"] ?? []).count == bursts.count, "an alert written twice")
        #expect((alerts["NewCountryTransfer"] ?? []).count == transfers.count, "an alert written twice")
        #expect((alerts["AuthorizationNotSettled"] ?? []).count == unsettled.count, "an alert written twice")
        // The planted frauds are among them.
        #expect(expected.bursts.count >= 3 && expected.transfers.count >= 3 && expected.unsettled.count >= 3)
    }
}
