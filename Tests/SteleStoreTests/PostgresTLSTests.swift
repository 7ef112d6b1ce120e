import Foundation
import Logging
import PostgresNIO
import Testing
import SteleStore
@testable import StelePostgres

/// `sslmode` in a PostgreSQL URL means what it means to libpq users, against a real server
/// offering TLS with a certificate from a throw-away CA (scripts/postgres-test-cluster.sh).
@Suite(.enabled(if: StoreBackend.postgresURL != nil && ProcessInfo.processInfo.environment["STELE_TEST_POSTGRES_CA"] != nil,
                "needs STELE_TEST_POSTGRES_URL and _CA (scripts/test starts a cluster with TLS)"))
struct PostgresTLSTests {
    static let base = StoreBackend.postgresURL!
    static let ca = ProcessInfo.processInfo.environment["STELE_TEST_POSTGRES_CA"]!
    static let otherCA = ProcessInfo.processInfo.environment["STELE_TEST_POSTGRES_OTHER_CA"]!

    static func url(_ query: String) -> String { base + "?" + query }

    /// Whether a connection made from `url`'s configuration is encrypted, as the server sees it.
    static func encrypted(_ url: String) async throws -> Bool {
        let configuration = try PostgresURL.configuration(url).get()
        let client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "test"))
        let run = Task { await client.run() }
        defer { run.cancel() }
        let rows = try await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: Logger(label: "test"))
        for try await ssl in rows.decode(Bool.self) { return ssl }
        return false
    }

    @Test func eachModeConnectsAsLibpqWould() async throws {
        #expect(try await Self.encrypted(Self.url("sslmode=disable")) == false)
        #expect(try await Self.encrypted(Self.base) == true, "prefer is the default, as in libpq")
        #expect(try await Self.encrypted(Self.url("sslmode=require")) == true)
        #expect(try await Self.encrypted(Self.url("sslmode=verify-ca&sslrootcert=\(Self.ca)")) == true)
        #expect(try await Self.encrypted(Self.url("sslmode=verify-full&sslrootcert=\(Self.ca)")) == true, "the certificate names 127.0.0.1")
    }

    @Test func aServerTheRootsDoNotVouchForIsRefusedAtOnceWithTheReason() async throws {
        for query in ["sslmode=verify-full&sslrootcert=\(Self.otherCA)", "sslmode=verify-ca&sslrootcert=\(Self.otherCA)",
                      // require with a root certificate checks the chain, as libpq does.
                      "sslmode=require&sslrootcert=\(Self.otherCA)",
                      // Without its own roots, verify-full trusts only the system's: a private CA is refused.
                      "sslmode=verify-full"] {
            let error = await #expect(throws: PostgresURLProblem.self) { try await PostgresURL.probe(Self.url(query), logger: Logger(label: "test")) }
            #expect(error?.reason.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(query): \(error?.reason ?? "")")
        }
        // The event store says so when it opens, rather than retrying in its pool.
        let error = await #expect(throws: EventStoreError.self) {
            try await PostgresEventStorage.connect(url: Self.url("sslmode=verify-full&sslrootcert=\(Self.otherCA)"), schema: "never")
        }
        #expect("\(error.map { String(describing: $0) } ?? "")".contains("CERTIFICATE_VERIFY_FAILED"))
    }

    @Test func theEventStoreRunsOverVerifiedTLS() async throws {
        let schema = "tls_" + UUID().uuidString.prefix(8).lowercased()
        let storage = try await PostgresEventStorage.connect(url: Self.url("sslmode=verify-full&sslrootcert=\(Self.ca)"), schema: schema)
        let store = EventStore(storage)
        let stream = StreamName(category: "accounts", id: "tls")
        try await store.append([EventData(type: "Opened", data: Array("{}".utf8))], to: stream, expected: .noStream)
        #expect(try await store.read(stream).map(\.type) == ["Opened"])
        try await storage.dropSchema()
        try await storage.close()
    }

    @Test func badTLSSettingsAreRefusedWithTheReason() {
        func reason(_ url: String) -> String? {
            if case let .failure(problem) = PostgresURL.configuration(url) { return problem.reason }
            return nil
        }
        #expect(reason(Self.url("sslmode=verify")) == "sslmode=verify is not one of disable, allow, prefer, require, verify-ca, verify-full")
        #expect(reason(Self.url("sslmode=require&sslcert=/tmp/c.pem"))?.contains("sslcert and sslkey go together") == true)
        #expect(reason(Self.url("sslmode=verify-full&sslrootcert=/nonexistent.pem")) != nil)
        #expect(reason(Self.url("ssl_mode=require"))?.contains("unknown parameter 'ssl_mode'") == true)
        // As libpq: verify-ca against the public roots would accept any certificate for any name.
        #expect(reason(Self.url("sslmode=verify-ca"))?.contains("needs sslrootcert") == true)
    }
}
