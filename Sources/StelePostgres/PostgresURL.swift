import Foundation
import Logging
import NIOPosix
import NIOSSL
import PostgresNIO

/// Where Stele's PostgreSQL parts connect: a `postgres://user:password@host:port/database` URL
/// and a schema for their tables.
///
/// TLS is asked for as libpq users do, in the URL's query: `sslmode` = `disable`, `allow`,
/// `prefer` (the default, as in libpq), `require`, `verify-ca` or `verify-full`; `sslrootcert`
/// (a PEM file of trusted CAs; without it the system's), and `sslcert` + `sslkey` for a client
/// certificate. As in libpq, `require` encrypts without checking who answers unless
/// `sslrootcert` is given (then it checks the chain, like `verify-ca`); `verify-full` also
/// checks that the certificate names the host (or its IP address). `allow` is taken as `prefer`.
package enum PostgresURL {
    /// The `sslmode` values libpq knows.
    enum SSLMode: String, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// What a URL says: where to connect, as whom, and how to secure it.
    struct Settings {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var mode: SSLMode
        /// `nil` for `sslmode=disable`.
        var tls: TLSConfiguration?

        /// For a pool of connections.
        var clientConfiguration: PostgresClient.Configuration {
            let clientTLS: PostgresClient.Configuration.TLS = switch (mode, tls) {
            case let (.allow, tls?), let (.prefer, tls?): .prefer(tls)
            case let (_, tls?): .require(tls)
            case (_, nil): .disable
            }
            return PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                database: database, tls: clientTLS)
        }

        /// For one connection.
        func connectionConfiguration() throws -> PostgresConnection.Configuration {
            let connectionTLS: PostgresConnection.Configuration.TLS = switch (mode, tls) {
            case let (.allow, tls?), let (.prefer, tls?): .prefer(try NIOSSLContext(configuration: tls))
            case let (_, tls?): .require(try NIOSSLContext(configuration: tls))
            case (_, nil): .disable
            }
            return PostgresConnection.Configuration(host: host, port: port, username: username, password: password,
                                                    database: database, tls: connectionTLS)
        }
    }

    /// A connection configuration for `url`, or why it cannot be one.
    package static func configuration(_ url: String) -> Result<PostgresClient.Configuration, PostgresURLProblem> {
        settings(url).map(\.clientConfiguration)
    }

    /// A single connection's configuration for `url` (for work that needs one session: a lock
    /// held while it runs, a transaction's snapshot).
    package static func connectionConfiguration(_ url: String) -> Result<PostgresConnection.Configuration, PostgresURLProblem> {
        settings(url).flatMap { settings in
            do { return .success(try settings.connectionConfiguration()) } catch {
                return .failure(PostgresURLProblem(reason: "TLS settings of the PostgreSQL URL: \(error)"))
            }
        }
    }

    /// Connects once, without the pool's retries, so that a wrong address, password or
    /// certificate is reported at once with PostgreSQL's or TLS's own reason instead of
    /// leaving the first query waiting while the pool retries.
    package static func probe(_ url: String, logger: Logger) async throws(PostgresURLProblem) {
        let settings = try settings(url).get()
        let where_ = "\(settings.host):\(settings.port)"
        do {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: try settings.connectionConfiguration(),
                id: 0, logger: logger).get()
            try await connection.close()
        } catch let error as PSQLError {
            let reason = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? "\(error.code)"
            throw PostgresURLProblem(reason: "cannot connect to PostgreSQL at \(where_) (sslmode=\(settings.mode.rawValue)): \(reason)")
        } catch {
            throw PostgresURLProblem(reason: "cannot connect to PostgreSQL at \(where_) (sslmode=\(settings.mode.rawValue)): \(error)")
        }
    }

    static func settings(_ url: String) -> Result<Settings, PostgresURLProblem> {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host else {
            return .failure(PostgresURLProblem(reason: "'\(url)' is not a postgres://user:password@host:port/database URL"))
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let known: Set<String> = ["sslmode", "sslrootcert", "sslcert", "sslkey"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            return .failure(PostgresURLProblem(reason: "unknown parameter '\(unknown)' in the PostgreSQL URL (known: \(known.sorted().joined(separator: ", ")))"))
        }
        let modeText = query["sslmode"] ?? "prefer"
        guard let mode = SSLMode(rawValue: modeText) else {
            return .failure(PostgresURLProblem(reason: "sslmode=\(modeText) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        let tls: TLSConfiguration?
        do {
            tls = try Self.tls(mode, query)
        } catch let problem as PostgresURLProblem {
            return .failure(problem)
        } catch {
            return .failure(PostgresURLProblem(reason: "TLS settings of the PostgreSQL URL: \(error)"))
        }
        return .success(Settings(host: host, port: components.port ?? 5432, username: components.user ?? "postgres",
                                 password: components.password,
                                 database: components.path.count > 1 ? String(components.path.dropFirst()) : nil,
                                 mode: mode, tls: tls))
    }

    private static func tls(_ mode: SSLMode, _ query: [String: String]) throws -> TLSConfiguration? {
        if mode == .disable { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        let rootCertificate = query["sslrootcert"].flatMap { $0.isEmpty ? nil : $0 }
        switch mode {
        case .allow, .prefer:
            configuration.certificateVerification = .none
        case .require:
            configuration.certificateVerification = rootCertificate == nil ? .none : .noHostnameVerification
        case .verifyCA:
            // As libpq: checking the chain but not the name is only safe against a private CA;
            // with the public roots any certificate for any name would pass.
            guard rootCertificate != nil else {
                throw PostgresURLProblem(reason: "sslmode=verify-ca needs sslrootcert (the CA that signed the server's certificate); use verify-full to check against the system's roots")
            }
            configuration.certificateVerification = .noHostnameVerification
        case .verifyFull, .disable:
            configuration.certificateVerification = .fullVerification
        }
        if let rootCertificate {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificate))
        }
        switch (query["sslcert"], query["sslkey"]) {
        case let (certificate?, key?):
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        case (nil, nil):
            break
        default:
            throw PostgresURLProblem(reason: "sslcert and sslkey go together: a client certificate needs its key")
        }
        return configuration
    }

    /// Schemas are spliced into SQL as quoted identifiers, so only plain names are accepted.
    /// A view's schema must not be one PostgreSQL or the event store owns: a rebuild drops and
    /// renames its view's schemas, which would destroy them.
    package static func checkViewSchema(_ schema: String) -> PostgresURLProblem? {
        if let problem = checkSchema(schema) { return problem }
        let base = schema.hasSuffix("__rebuild") ? String(schema.dropLast("__rebuild".count)) : schema
        if base.hasPrefix("pg_") || ["public", "information_schema", "stele"].contains(base) {
            return PostgresURLProblem(reason: "a view cannot be named '\(base)': PostgreSQL or the event store owns that schema")
        }
        return nil
    }

    package static func checkSchema(_ schema: String) -> PostgresURLProblem? {
        schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) == nil
            ? PostgresURLProblem(reason: "schema name '\(schema)' must be lowercase letters, digits and _ (at most 63)") : nil
    }
}

package struct PostgresURLProblem: Error {
    package var reason: String
}
