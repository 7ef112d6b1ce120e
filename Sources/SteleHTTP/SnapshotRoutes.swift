import Foundation
import Hummingbird
import NIOCore
import SteleStore
import SteleWire
import SteleViews

/// `/streams/{category}/{id}/snapshots/{name}`: store a folded state, and find the newest one
/// at or before a version.
struct SnapshotRoutes: Sendable {
    let store: EventStore
    let maxBodyBytes: Int

    func register(on router: Router<SteleRequestContext>) {
        router.put("streams/:category/:id/snapshots/:name") { request, context in
            let stream = try StreamRoutes.stream(context)
            if let problem = stream.problem { return JSONResponse.problem(.badRequest, "invalid stream", detail: problem) }
            let name = try StreamRoutes.pathParameter(context, "name")
            let body: ByteBuffer
            switch await JSONResponse.body(of: request, limit: maxBodyBytes) {
            case let .success(bytes): body = bytes
            case let .failure(problem): return problem.response
            }
            guard case let .object(members)? = JSONValue.parse(Array(body.readableBytesView)) else {
                return JSONResponse.problem(.badRequest, "malformed snapshot", detail: #"expected {"version": n, "schemaVersion": n, "state_base64": "…"}"#)
            }
            guard let version = members["version"]?.integer, version >= 0 else {
                return JSONResponse.problem(.badRequest, "malformed snapshot", detail: "\"version\" must be the version of the last event folded (≥ 0)")
            }
            var schemaVersion = 1
            if let value = members["schemaVersion"] {
                guard let number = value.integer, number >= 1, number <= Int64(Int32.max) else {
                    return JSONResponse.problem(.badRequest, "malformed snapshot", detail: "\"schemaVersion\" must be a positive integer")
                }
                schemaVersion = Int(number)
            }
            guard case let .string(encoded)? = members["state_base64"], let state = Data(base64Encoded: encoded) else {
                return JSONResponse.problem(.badRequest, "malformed snapshot", detail: "\"state_base64\" must be the state, base64")
            }
            var takenAt = Date()
            if let value = members["takenAt"] {
                guard case let .string(text) = value, let time = StreamRoutes.parseTime(text) else {
                    return JSONResponse.problem(.badRequest, "malformed snapshot", detail: "\"takenAt\" must be an ISO 8601 time")
                }
                takenAt = time
            }
            do {
                try await store.saveSnapshot(Snapshot(stream: stream, name: name, version: version, schemaVersion: schemaVersion, state: Array(state), takenAt: takenAt))
                return Response(status: .noContent)
            } catch let error as EventStoreError {
                return StreamRoutes.problem(for: error)
            }
        }
        router.get("streams/:category/:id/snapshots/:name") { request, context in
            let stream = try StreamRoutes.stream(context)
            if let problem = stream.problem { return JSONResponse.problem(.badRequest, "invalid stream", detail: problem) }
            let name = try StreamRoutes.pathParameter(context, "name")
            let query = request.uri.queryParameters
            let schemaVersion = query["schemaVersion"].map { Int(String($0)) } ?? 1
            let atOrBefore = query["atOrBefore"].map { Int64(String($0)) } ?? .max
            guard let schemaVersion, schemaVersion >= 1 else { return JSONResponse.problem(.badRequest, "schemaVersion must be a positive integer") }
            guard let atOrBefore, atOrBefore >= 0 else { return JSONResponse.problem(.badRequest, "atOrBefore must be a version ≥ 0") }
            do {
                guard let snapshot = try await store.latestSnapshot(of: stream, name: name, schemaVersion: schemaVersion, atOrBefore: atOrBefore) else {
                    return JSONResponse.problem(.notFound, "no snapshot", detail: "\(stream) has no snapshot \(name) of schema version \(schemaVersion) at or before \(atOrBefore)")
                }
                return JSONResponse.ok(SnapshotJSON(snapshot).json)
            } catch let error as EventStoreError {
                return StreamRoutes.problem(for: error)
            }
        }
    }
}
