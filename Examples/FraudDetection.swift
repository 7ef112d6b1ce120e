import Foundation
import Stele
import SteleCore

/// The seed's fraud detection: account and card streams with generated traffic and planted
/// frauds, and three rules over them, each a processor writing alerts to the `alerts` category
/// (a stream per account or card):
///
/// 1. a burst of withdrawals: more than 2,000 withdrawn from an account within a 10-minute
///    window (a tumbling window);
/// 2. a login from a country other than the account's home, followed within 5 minutes by a
///    transfer over 1,000 (`MATCH_RECOGNIZE` across two categories, `logins` and `transfers`);
/// 3. a card authorization not settled within 15 minutes (an absence, fired by the watermark).
///
/// Each rule is a processor definition in SQL, as `stele serve --views DIR` loads them.
public enum FraudDetection {
    public static let base: Int64 = 1_796_083_200_000   // 2026-12-01T00:00:00Z
    public static let withinMinutes: Int64 = 60_000

    /// One generated event: its category, stream id, type, event time and payload.
    public struct Traffic: Sendable, Equatable {
        public var category: String
        public var stream: String
        public var type: String
        public var time: Int64
        public var data: [String: JSONScalar]
    }

    /// A payload value of the generated traffic.
    public enum JSONScalar: Sendable, Equatable {
        case int(Int64)
        case text(String)
    }

    /// Three hours of traffic for 20 accounts and their cards, from `seed`: withdrawals, logins,
    /// transfers, card authorizations (settled 1–10 minutes later, one in a hundred never), and
    /// planted frauds of each kind. Times are unique; the list is in append order, which is
    /// time order shuffled by up to 20 s. A last `Tick` per category, an hour later, moves every
    /// watermark past the traffic.
    public static func traffic(seed: UInt64) -> [Traffic] {
        var random = SplitMix64(seed: seed)
        func pick(_ range: ClosedRange<Int64>) -> Int64 { range.lowerBound + Int64(random.next() % UInt64(range.upperBound - range.lowerBound + 1)) }
        let countries = ["FR", "DE", "NL", "ES", "IT"]
        let accounts = (1...20).map { String(format: "acct-%02d", $0) }
        let home = Dictionary(uniqueKeysWithValues: accounts.enumerated().map { ($1, countries[$0 % countries.count]) })
        var events: [Traffic] = []
        var used: Set<Int64> = []
        func at(_ time: Int64) -> Int64 {
            var time = time
            while !used.insert(time).inserted { time += 1 }
            return time
        }
        var authorizations = 0
        func authorize(_ account: String, _ time: Int64, settled: Bool) {
            authorizations += 1
            let card = account.replacingOccurrences(of: "acct", with: "card")
            let authorization = "auth-\(authorizations)"
            let amount = pick(5...500)
            events.append(Traffic(category: "cards", stream: card, type: "CardAuthorized", time: at(time),
                                  data: ["authorization": .text(authorization), "amount": .int(amount)]))
            if settled {
                events.append(Traffic(category: "cards", stream: card, type: "AuthorizationSettled", time: at(time + pick(60_000...600_000)),
                                      data: ["authorization": .text(authorization), "amount": .int(amount)]))
            }
        }
        let steps = 3 * 3_600 / 5
        for step in 0..<steps {
            let time = base + Int64(step) * 5_000
            let account = accounts[Int(random.next() % UInt64(accounts.count))]
            switch random.next() % 100 {
            case 0..<30:
                events.append(Traffic(category: "withdrawals", stream: account, type: "CashWithdrawn", time: at(time), data: ["amount": .int(pick(20...300))]))
            case 30..<55:
                let foreign = random.next() % 10 == 0
                let country = foreign ? countries[(countries.firstIndex(of: home[account]!)! + 1 + Int(random.next() % 4)) % countries.count] : home[account]!
                events.append(Traffic(category: "logins", stream: account, type: "LoginSucceeded", time: at(time),
                                      data: ["country": .text(country), "homeCountry": .text(home[account]!)]))
            case 55..<75:
                events.append(Traffic(category: "transfers", stream: account, type: "MoneyTransferred", time: at(time),
                                      data: ["amount": .int(random.next() % 100 < 15 ? pick(1_001...1_500) : pick(10...1_000)), "to": .text("ext-\(random.next() % 1000)")]))
            default:
                authorize(account, time, settled: random.next() % 100 != 0)
            }
        }
        // Planted: bursts of withdrawals, taken-over accounts, authorizations never settled.
        for index in 0..<3 {
            let account = accounts[3 + index * 5]
            let start = base + Int64(20 + index * 50) * withinMinutes
            for k in 0..<5 { events.append(Traffic(category: "withdrawals", stream: account, type: "CashWithdrawn", time: at(start + Int64(k) * 70_000), data: ["amount": .int(pick(500...700))])) }
        }
        for index in 0..<3 {
            let account = accounts[4 + index * 5]
            let start = base + Int64(30 + index * 50) * withinMinutes
            let foreign = countries[(countries.firstIndex(of: home[account]!)! + 2) % countries.count]
            events.append(Traffic(category: "logins", stream: account, type: "LoginSucceeded", time: at(start), data: ["country": .text(foreign), "homeCountry": .text(home[account]!)]))
            events.append(Traffic(category: "transfers", stream: account, type: "MoneyTransferred", time: at(start + pick(60_000...240_000)),
                                  data: ["amount": .int(pick(2_000...5_000)), "to": .text("mule-\(index)")]))
        }
        for index in 0..<3 { authorize(accounts[5 + index * 5], base + Int64(40 + index * 50) * withinMinutes, settled: false) }
        let end = base + 4 * 3_600_000
        for category in ["withdrawals", "logins", "transfers", "cards"] {
            events.append(Traffic(category: category, stream: "clock", type: "Tick", time: at(end), data: [:]))
        }
        // Appended in time order shuffled by up to 20 s (within the processors' 1 minute).
        let shuffled = events.map { ($0.time + pick(0...20_000), $0) }
        return shuffled.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
    }

    /// Rule 1: a tumbling window.
    public static let withdrawalBursts = """
        -- @processor withdrawal_bursts
        -- @output alerts
        -- @dead-letters fraud-dead-letters
        -- @event-type WithdrawalBurst
        -- @out-of-order 1 minute
        SELECT stream_id AS account, window_start, window_end, COUNT(*) AS withdrawals, SUM(data.amount) AS total
        FROM TABLE(TUMBLE(TABLE withdrawals, DESCRIPTOR(occurred_at), INTERVAL '10' MINUTES))
        WHERE type IN ('CashWithdrawn', 'Tick')
        GROUP BY stream_id, window_start, window_end
        HAVING SUM(data.amount) > 2000
        """

    /// Rule 2: a pattern across two categories.
    public static let newCountryTransfers = """
        -- @processor new_country_transfers
        -- @output alerts
        -- @dead-letters fraud-dead-letters
        -- @event-type NewCountryTransfer
        -- @out-of-order 1 minute
        SELECT *
        FROM (SELECT * FROM logins UNION ALL SELECT * FROM transfers)
        MATCH_RECOGNIZE (
            PARTITION BY stream_id
            ORDER BY occurred_at
            MEASURES L.data.country AS country, T.data.amount AS amount, L.occurred_at AS loginAt, T.occurred_at AS transferAt
            PATTERN (L X* T) WITHIN INTERVAL '5' MINUTES
            DEFINE L AS L.type = 'LoginSucceeded' AND L.data.country <> L.data.homeCountry,
                   T AS T.type = 'MoneyTransferred' AND T.data.amount > 1000
        )
        """

    /// Rule 3: an absence, fired by the watermark.
    public static let unsettledAuthorizations = """
        -- @processor unsettled_authorizations
        -- @output alerts
        -- @dead-letters fraud-dead-letters
        -- @event-type AuthorizationNotSettled
        -- @out-of-order 1 minute
        SELECT *
        FROM cards
        MATCH_RECOGNIZE (
            PARTITION BY stream_id
            ORDER BY occurred_at
            MEASURES A.data.authorization AS authorization, A.data.amount AS amount, A.occurred_at AS authorizedAt
            PATTERN (A !S) WITHIN INTERVAL '15' MINUTES
            DEFINE A AS A.type = 'CardAuthorized',
                   S AS S.type = 'AuthorizationSettled' AND S.data.authorization = A.data.authorization
        )
        """

    /// The three rules' definitions, in order.
    public static var rules: [String] { [withdrawalBursts, newCountryTransfers, unsettledAuthorizations] }

    /// Appends the traffic, runs the three rules over it to the end, and returns the alerts by type.
    public static func run(store: EventStore, seed: UInt64, print: Demos.Output) async throws -> [String: [RecordedEvent]] {
        let traffic = traffic(seed: seed)
        try await append(traffic, to: store)
        print("Appended \(traffic.count) events: withdrawals, logins, transfers and card authorizations of 20 accounts over 3 hours (seed \(seed))")
        let checkpoints = InMemoryCheckpointStore()
        for rule in rules {
            try await ProcessorDefinition.parse(rule, file: "fraud rules").makeRunnable(store: store, checkpoints: checkpoints).runUntilCaughtUp()
        }
        let alerts = try await alerts(in: store)
        for (type, rule) in [("WithdrawalBurst", "1. withdrawal bursts (> 2,000 within a 10-minute window)"),
                             ("NewCountryTransfer", "2. a login from another country, then a transfer > 1,000 within 5 minutes"),
                             ("AuthorizationNotSettled", "3. card authorizations not settled within 15 minutes")] {
            print("\(rule): \(alerts[type]?.count ?? 0) alerts")
            for event in (alerts[type] ?? []).sorted(by: { $0.stream.id < $1.stream.id }) {
                print("  \(event.stream.id)  \(String(decoding: event.data, as: UTF8.self))")
            }
        }
        return alerts
    }

    /// The alerts written so far, by event type.
    public static func alerts(in store: EventStore) async throws -> [String: [RecordedEvent]] {
        var alerts: [String: [RecordedEvent]] = [:]
        var next = CategoryCheckpoint.start
        while true {
            let page = try await store.readCategory("alerts", after: next)
            if page.events.isEmpty { break }
            for event in page.events { alerts[event.type ?? "", default: []].append(event) }
            next = page.next
        }
        return alerts
    }

    /// Appends the generated traffic, each event with its time as `occurredAt`.
    public static func append(_ traffic: [Traffic], to store: EventStore) async throws {
        for event in traffic {
            let data = "{" + event.data.keys.sorted().map { key -> String in
                switch event.data[key]! {
                case let .int(value): return "\"\(key)\":\(value)"
                case let .text(value): return "\"\(key)\":\"\(value)\""
                }
            }.joined(separator: ",") + "}"
            try await store.append([EventData(type: event.type, data: Array(data.utf8), metadata: EventMetadata(occurredAt: Date(timeIntervalSince1970: Double(event.time) / 1000)))],
                                   to: StreamName(category: event.category, id: event.stream))
        }
    }
}
