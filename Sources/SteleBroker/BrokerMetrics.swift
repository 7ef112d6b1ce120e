import Metrics
import Synchronization

/// What the broker counts as it works, reported through swift-metrics (`stele serve` exports
/// them in Prometheus format at `/metrics`). Made when the broker opens, so they go to the
/// metrics backend bootstrapped before that; without one they cost nothing.
///
/// Sizes, offsets and lags are not counted here: `/metrics` reads them from the logs and the
/// group coordinator when scraped, so they can never drift from the truth.
public struct BrokerMetrics: Sendable {
    /// An entry point into the log: the Kafka protocol or the event store (HTTP or Swift).
    public enum API: String, Sendable, CaseIterable { case kafka, store }

    public struct Appends: Sendable {
        public let batches: Counter
        public let records: Counter
        public let bytes: Counter
        public let failures: Counter
        public let duration: Metrics.Timer
        let totals: Totals

        init(api: API, totals: Totals) {
            self.totals = totals
            let dimensions = [("api", api.rawValue)]
            batches = Counter(label: "stele_append_batches_total", dimensions: dimensions)
            records = Counter(label: "stele_append_records_total", dimensions: dimensions)
            bytes = Counter(label: "stele_append_bytes_total", dimensions: dimensions)
            failures = Counter(label: "stele_append_failures_total", dimensions: dimensions)
            duration = Metrics.Timer(label: "stele_append_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        }

        /// Counts a batch that was appended, and how long it took.
        public func record(records count: Int, bytes size: Int, since start: ContinuousClock.Instant) {
            batches.increment()
            records.increment(by: count)
            bytes.increment(by: size)
            totals.appendedRecords.add(count, ordering: .relaxed)
            totals.appendedBytes.add(size, ordering: .relaxed)
            duration.recordInterval(since: start)
        }
    }

    /// The same counts, readable here (a swift-metrics counter cannot be read back): the
    /// console's rates come from them, so they agree with `/metrics`.
    public final class Totals: Sendable {
        public let appendedRecords = Atomic<Int>(0)
        public let appendedBytes = Atomic<Int>(0)
        public let fetchedBytes = Atomic<Int>(0)
    }

    public let totals: Totals
    public let kafkaAppends: Appends
    public let storeAppends: Appends
    /// Kafka fetch requests answered and the record bytes they carried.
    public let fetches = Counter(label: "stele_fetch_requests_total")
    public let fetchedBytes = Counter(label: "stele_fetch_bytes_total")
    /// Reads that reached damaged data (each one, logged at most once a minute per partition).
    public let corruptReads = Counter(label: "stele_corrupt_reads_total")
    /// Whether a damaged-data read is logged (a retrying consumer must not flood the log).
    public let corruptReadLog = RepeatThrottle(interval: .seconds(60))
    public let fetchDuration = Metrics.Timer(label: "stele_fetch_duration_seconds", preferredDisplayUnit: .seconds)

    public init() {
        totals = Totals()
        kafkaAppends = Appends(api: .kafka, totals: totals)
        storeAppends = Appends(api: .store, totals: totals)
    }

    /// Counts a fetch read and the bytes it returned.
    public func recordFetch(bytes: Int, since start: ContinuousClock.Instant) {
        fetches.increment()
        fetchedBytes.increment(by: bytes)
        totals.fetchedBytes.add(bytes, ordering: .relaxed)
        fetchDuration.recordInterval(since: start)
    }
}

extension Metrics.Timer {
    fileprivate func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
