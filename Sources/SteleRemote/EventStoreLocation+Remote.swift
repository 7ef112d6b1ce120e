import Foundation
import SteleStore

extension EventStoreLocation {
    /// A running Stele server (`http://127.0.0.1:8080`), used through its HTTP API; `token`
    /// (from `stele tokens create`) is sent with every request when the server authenticates.
    public static func remote(url: URL, token: String? = nil) -> EventStoreLocation {
        EventStoreLocation { RemoteEventStorage(url: url, token: token) }
    }
}
