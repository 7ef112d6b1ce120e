import Logging
import PostgresNIO
import Foundation

/// Runs `body` with a client of the test cluster as the user in `url` (the cluster's superuser,
/// over loopback without TLS: `scripts/postgres-test-cluster.sh`), for tests that set the
/// cluster up (roles, restored schemas) or look behind Stele's back. The client stops after.
public func withPostgresAdmin<T: Sendable>(url: String, _ body: (PostgresClient) async throws -> T) async throws -> T {
    guard let components = URLComponents(string: url), let host = components.host, let port = components.port, let user = components.user else {
        throw PostgresAdminURLError(url: url)
    }
    let client = PostgresClient(configuration: .init(host: host, port: port, username: user, password: components.password,
                                                     database: String(components.path.dropFirst()), tls: .disable),
                                backgroundLogger: Logger(label: "test"))
    let run = Task { await client.run() }
    defer { run.cancel() }
    return try await body(client)
}

/// `STELE_TEST_POSTGRES_URL` is not a postgres://user@host:port/database URL.
public struct PostgresAdminURLError: Error, CustomStringConvertible {
    public let url: String
    public var description: String { "not a postgres://user@host:port/database URL: \(url)" }
}
