import Foundation
import Testing
import Stele
import SteleExamples

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
