import Foundation

/// A record of one of the broker's own compacted logs (committed offsets, transaction state)
/// whose bytes passed their checksum but do not decode as the state this broker writes. The
/// open stops on it: skipping it would silently forget a group's position or a transaction's
/// decision.
public struct CorruptStateRecord: Error, Sendable, CustomStringConvertible {
    /// The log's name, e.g. `__consumer_offsets`.
    public var log: String
    public var offset: Int64
    public var reason: String

    public var description: String { "\(log): the record at offset \(offset) cannot be read (\(reason)); the broker will not start without it" }

    /// Decodes `bytes`, naming the record if they do not decode.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], log: String, offset: Int64) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw CorruptStateRecord(log: log, offset: offset, reason: "\(error)")
        }
    }
}
