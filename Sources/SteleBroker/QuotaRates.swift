/// Bytes per second per quota entity, measured as Kafka measures them (`Rate` over a
/// `SampledStat`): 11 samples of 1 s (`quota.window.num`, `quota.window.size.seconds`), the
/// window never counted shorter than 10 full samples, so a first burst is not read as a huge
/// rate. No I/O and no clock of its own: every call passes the time.
///
/// Bounded: at most `maxEntities` entities are measured; past it the one used least recently is
/// dropped (it starts again at zero, as Kafka's sensors do after an hour idle).
public struct QuotaRates: Sendable {
    public static let sampleMilliseconds: Int64 = 1000
    public static let samples = 11

    struct Key: Hashable {
        var quota: QuotaKey
        var entity: QuotaEntity
    }

    struct Sensor {
        /// (start of the sample, bytes in it), oldest first, at most `samples`.
        var samples: [(start: Int64, bytes: Double)] = []
        var lastUsed: Int64
    }

    private var sensors: [Key: Sensor] = [:]
    public let maxEntities: Int

    public init(maxEntities: Int = 10_000) {
        precondition(maxEntities > 0)
        self.maxEntities = maxEntities
    }

    public var entityCount: Int { sensors.count }

    /// Records `bytes` for `entity` against `bytesPerSecond` and returns how long the client
    /// must wait for its rate to fall back to the quota (Kafka's `QuotaUtils.throttleTime`):
    /// 0 while within it.
    public mutating func record(_ bytes: Int, _ quota: QuotaKey, entity: QuotaEntity, bytesPerSecond bound: Double, now: Int64) -> Int64 {
        precondition(bound > 0)
        let key = Key(quota: quota, entity: entity)
        var sensor = sensors.removeValue(forKey: key) ?? Sensor(lastUsed: now)
        if sensors.count >= maxEntities, let idlest = sensors.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
            sensors.removeValue(forKey: idlest)
        }
        Self.add(Double(bytes), to: &sensor, now: now)
        sensor.lastUsed = now
        let (rate, window) = Self.measure(sensor, now: now)
        sensors[key] = sensor
        guard rate > bound else { return 0 }
        return Int64(((rate - bound) / bound * Double(window)).rounded())
    }

    /// Takes back bytes recorded but not sent (a throttled fetch answers empty, as Kafka's
    /// `unrecordQuotaSensor` does).
    public mutating func unrecord(_ bytes: Int, _ quota: QuotaKey, entity: QuotaEntity, now: Int64) {
        guard var sensor = sensors[Key(quota: quota, entity: entity)] else { return }
        Self.add(-Double(bytes), to: &sensor, now: now)
        sensors[Key(quota: quota, entity: entity)] = sensor
    }

    private static func add(_ bytes: Double, to sensor: inout Sensor, now: Int64) {
        // Samples that ended before the window began are obsolete.
        sensor.samples.removeAll { now - $0.start >= sampleMilliseconds * Int64(samples) }
        if let last = sensor.samples.last, now - last.start < sampleMilliseconds {
            sensor.samples[sensor.samples.count - 1].bytes += bytes
        } else {
            sensor.samples.append((now, bytes))
            if sensor.samples.count > samples { sensor.samples.removeFirst(sensor.samples.count - samples) }
        }
    }

    /// The rate in bytes per second and the window it was measured over, in milliseconds.
    static func measure(_ sensor: Sensor, now: Int64) -> (rate: Double, window: Int64) {
        let total = sensor.samples.reduce(0) { $0 + $1.bytes }
        var elapsed = now - (sensor.samples.first?.start ?? now)
        let full = elapsed / sampleMilliseconds
        if full < Int64(samples - 1) { elapsed += (Int64(samples - 1) - full) * sampleMilliseconds }
        let window = max(elapsed, 1)
        return (max(total, 0) / (Double(window) / 1000), window)
    }
}
