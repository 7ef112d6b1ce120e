import Foundation
import Hummingbird
import NIOCore
import SteleStore
import SteleWire
import SteleViews

/// `/views`: list, status, rebuild, retry of parked events, read by key, read-only queries.
struct ViewRoutes: Sendable {
    let views: ViewService
    let maxBodyBytes: Int

    func register(on router: Router<SteleRequestContext>) {
        router.get("views") { _, _ in
            var statuses: [JSONValue] = []
            for view in views.views { statuses.append(Self.json(await view.status())) }
            let refused = views.refusedDefinitions.map { problem -> JSONValue in
                .object(["file": .string(problem.file), "line": .integer(Int64(problem.line)), "reason": .string(problem.reason)])
            }
            return JSONResponse.ok(.object(["views": .array(statuses), "refused": .array(refused)]))
        }
        router.get("views/:name") { _, context in
            try await withView(context) { view in JSONResponse.ok(Self.json(await view.status())) }
        }
        router.post("views/:name/rebuild") { _, context in
            try await withView(context) { view in
                do { try await view.rebuild() } catch {
                    return JSONResponse.problem(.conflict, "the view is already rebuilding", detail: "\(error)")
                }
                return JSONResponse.ok(Self.json(await view.status()), status: .accepted)
            }
        }
        router.post("views/:name/retry") { _, context in
            try await withView(context) { view in
                do {
                    let outcome = try await view.retryParked()
                    return JSONResponse.ok(.object(["applied": .integer(Int64(outcome.applied)), "stillParked": .integer(Int64(outcome.stillParked))]))
                } catch {
                    return JSONResponse.problem(.conflict, "the view is not running", detail: "\(error)")
                }
            }
        }
        router.get("views/:name/tables/:table/rows/:key") { _, context in
            try await withView(context) { view in
                let table = try StreamRoutes.pathParameter(context, "table")
                let key = try StreamRoutes.pathParameter(context, "key")
                do {
                    guard let row = try await view.row(in: table, key: .text(key)) else {
                        return JSONResponse.problem(.notFound, "no such row", detail: "\(table) has no row with key \(key)")
                    }
                    return JSONResponse.ok(Self.json(row))
                } catch {
                    return Self.problem(for: error)
                }
            }
        }
        router.post("views/:name/query") { request, context in
            try await withView(context) { view in
                let body: ByteBuffer
                switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
                case let .success(bytes): body = bytes
                case let .failure(problem): return problem.response
                }
                guard case let .object(members)? = JSONValue.parse(Array(body.readableBytesView)) else {
                    return JSONResponse.problem(.badRequest, "the body is not a JSON object", detail: #"expected {"sql": "SELECT …", "params": {"name": value}}"#)
                }
                guard case let .string(sql)? = members["sql"] else { return JSONResponse.problem(.badRequest, "the body has no \"sql\" string") }
                var parameters: [String: SQLValue] = [:]
                if case let .object(params)? = members["params"] {
                    for (name, value) in params {
                        switch value {
                        case .null: parameters[name] = .null
                        case let .bool(flag): parameters[name] = .integer(flag ? 1 : 0)
                        case let .integer(number): parameters[name] = .integer(number)
                        case let .number(number): parameters[name] = .real(number)
                        case let .string(text): parameters[name] = .text(text)
                        case .array, .object: return JSONResponse.problem(.badRequest, "parameter \(name) is not a number, string, boolean or null")
                        }
                    }
                } else if members["params"] != nil {
                    return JSONResponse.problem(.badRequest, "\"params\" is not an object")
                }
                do {
                    // The limit covers the whole request: the query, then turning its rows into JSON.
                    let clock = ContinuousClock()
                    let deadline = clock.now + view.queryTimeout
                    let rows = try await view.query(SQLStatement(sql, parameters))
                    let json = try Self.json(rows: rows, limit: view.queryTimeout) { clock.now > deadline }
                    let response = JSONResponse.ok(.object(["rows": .array(json)]))
                    if clock.now > deadline { throw ViewError.timedOut("it ran longer than \(view.queryTimeout), writing its rows included") }
                    return response
                } catch {
                    return Self.problem(for: error)
                }
            }
        }
    }

    private func withView(_ context: SteleRequestContext, _ body: (MaterializedView) async throws -> Response) async throws -> Response {
        let name = try StreamRoutes.pathParameter(context, "name")
        guard let view = views.view(named: name) else { return JSONResponse.problem(.notFound, "no view named \(name)") }
        return try await body(view)
    }

    static func problem(for error: any Error) -> Response {
        switch error as? ViewError {
        case let .readOnly(reason)?: JSONResponse.problem(.forbidden, "queries are read-only", detail: reason)
        case let .timedOut(reason)?: JSONResponse.problem(.serviceUnavailable, "the query ran too long", detail: reason)
        case let .resultTooLarge(reason)?: JSONResponse.problem(.badRequest, "the result is too large", detail: reason)
        case let .noSuchTable(reason)?: JSONResponse.problem(.notFound, "no such table", detail: reason)
        case let .store(reason)?: JSONResponse.problem(.badRequest, "the query failed", detail: reason)
        default: JSONResponse.problem(.internalServerError, "the query failed", detail: "\(error)")
        }
    }

    /// The rows as JSON, checking `pastDeadline` every 256 rows: a large result cannot hold a
    /// request past its time limit while it is serialised.
    static func json(rows: [[String: SQLValue]], limit: Duration, pastDeadline: () -> Bool) throws(ViewError) -> [JSONValue] {
        var json: [JSONValue] = []
        json.reserveCapacity(rows.count)
        for (index, row) in rows.enumerated() {
            if index % 256 == 0, pastDeadline() { throw .timedOut("it ran longer than \(limit), writing its rows included") }
            json.append(Self.json(row))
        }
        return json
    }

    static func json(_ row: [String: SQLValue]) -> JSONValue {
        .object(row.mapValues { value in
            switch value {
            case .null: .null
            case let .integer(number): .integer(number)
            case let .real(number): .number(number)
            case let .text(text): .string(text)
            case let .blob(bytes): .string(Data(bytes).base64EncodedString())
            }
        })
    }

    static func json(_ status: ViewStatus) -> JSONValue {
        var members: [String: JSONValue] = [
            "name": .string(status.name),
            "categories": .array(status.categories.map(JSONValue.string)),
            "lag": .object(["events": .integer(status.lagEvents), "seconds": .number(status.lagSeconds)]),
            "parked": .array(status.parked.map { parked in
                .object([
                    "stream": .string(parked.key.stream.description), "version": .integer(parked.key.version),
                    "position": .string(parked.position.description), "type": parked.type.map(JSONValue.string) ?? .null,
                    "error": .string(parked.error), "parkedAt": .string(ISO8601Milliseconds.format(parked.parkedAt.epochMilliseconds)),
                ])
            }),
        ]
        switch status.state {
        case .starting: members["state"] = .string("starting")
        case .running: members["state"] = .string("running")
        case .rebuilding: members["state"] = .string("rebuilding")
        case let .outdated(reason): members["state"] = .string("outdated"); members["reason"] = .string(reason)
        case let .failed(reason): members["state"] = .string("failed"); members["reason"] = .string(reason)
        }
        if let rebuild = status.rebuild {
            var progress: [String: JSONValue] = [
                "applied": .integer(rebuild.applied), "total": .integer(rebuild.total),
                "eventsPerSecond": .number(rebuild.eventsPerSecond.rounded()),
                "secondsLeft": rebuild.secondsLeft.map { .number(($0 * 10).rounded() / 10) } ?? .null,
            ]
            switch rebuild.phase {
            case .replaying: progress["phase"] = .string("replaying")
            case .swapping: progress["phase"] = .string("swapping")
            case let .failed(reason): progress["phase"] = .string("failed"); progress["reason"] = .string(reason)
            }
            members["rebuild"] = .object(progress)
        }
        return .object(members)
    }
}
