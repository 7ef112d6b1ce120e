import Foundation
import SteleStore

extension EventStoreLocation {
    /// A running Stele server (`http://127.0.0.1:8080`), used through its HTTP API.
    public static func remote(url: URL) -> EventStoreLocation {
        EventStoreLocation { RemoteEventStorage(url: url) }
    }
}
