import Synchronization

/// Counts open connections, in all and per client address, and refuses one past either limit
/// (Kafka `max.connections` and `max.connections.per.ip`): one client that opens connections in
/// a loop cannot take every file descriptor the broker has. Used by the Kafka listener and the
/// HTTP API. No I/O.
public final class ConnectionLimiter: Sendable {
    public let maxTotal: Int
    public let maxPerAddress: Int
    private let counts = Mutex<(total: Int, perAddress: [String: Int])>((0, [:]))

    public init(maxTotal: Int, maxPerAddress: Int) {
        precondition(maxTotal > 0 && maxPerAddress > 0)
        (self.maxTotal, self.maxPerAddress) = (maxTotal, maxPerAddress)
    }

    /// Admits a connection from `address`, or says which limit it is over. An admitted one
    /// must be ``release(_:)``d when it ends.
    public func admit(_ address: String) -> String? {
        counts.withLock { counts in
            if counts.total >= maxTotal { return "the broker has \(maxTotal) connections open (--max-connections)" }
            let current = counts.perAddress[address, default: 0]
            if current >= maxPerAddress { return "\(address) has \(maxPerAddress) connections open (--max-connections-per-ip)" }
            counts.total += 1
            counts.perAddress[address] = current + 1
            return nil
        }
    }

    public func release(_ address: String) {
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.perAddress[address, default: 1] - 1
            counts.perAddress[address] = left > 0 ? left : nil
            assert(counts.total >= 0)
        }
    }

    public var open: Int { counts.withLock { $0.total } }
}
