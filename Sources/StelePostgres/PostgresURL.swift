import Foundation
import PostgresNIO

/// Where Stele's PostgreSQL parts connect: a `postgres://user:password@host:port/database` URL
/// and a schema for their tables.
enum PostgresURL {
    /// A connection configuration for `url`, or why it cannot be one.
    static func configuration(_ url: String) -> Result<PostgresClient.Configuration, PostgresURLProblem> {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host else {
            return .failure(PostgresURLProblem(reason: "'\(url)' is not a postgres://user:password@host:port/database URL"))
        }
        return .success(PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: components.user ?? "postgres", password: components.password,
            database: components.path.count > 1 ? String(components.path.dropFirst()) : nil, tls: .disable))
    }

    /// Schemas are spliced into SQL as quoted identifiers, so only plain names are accepted.
    /// A view's schema must not be one PostgreSQL or the event store owns: a rebuild drops and
    /// renames its view's schemas, which would destroy them.
    static func checkViewSchema(_ schema: String) -> PostgresURLProblem? {
        if let problem = checkSchema(schema) { return problem }
        let base = schema.hasSuffix("__rebuild") ? String(schema.dropLast("__rebuild".count)) : schema
        if base.hasPrefix("pg_") || ["public", "information_schema", "stele"].contains(base) {
            return PostgresURLProblem(reason: "a view cannot be named '\(base)': PostgreSQL or the event store owns that schema")
        }
        return nil
    }

    static func checkSchema(_ schema: String) -> PostgresURLProblem? {
        schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) == nil
            ? PostgresURLProblem(reason: "schema name '\(schema)' must be lowercase letters, digits and _ (at most 63)") : nil
    }
}

struct PostgresURLProblem: Error {
    var reason: String
}
