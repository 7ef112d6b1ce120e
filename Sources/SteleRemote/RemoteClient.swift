import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SteleStore
import SteleWire

/// Requests to Stele's HTTP API, and its problem details turned back into ``EventStoreError``s.
struct RemoteClient: Sendable {
    let base: URL
    /// A bearer token (`stele tokens create`), sent with every request.
    let token: String?
    let session: URLSession
    /// Most events the server returns per read.
    static let pageLimit = 1000

    init(base: URL, token: String? = nil) {
        self.base = base
        self.token = token
        let configuration = URLSessionConfiguration.ephemeral
        // Long polls hold a connection each; the default of a few per host would queue reads behind them.
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 60
        self.session = URLSession(configuration: configuration)
    }

    /// A path segment with everything but unreserved characters percent-encoded.
    static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? segment
    }

    func streamPath(_ stream: StreamName) -> String {
        "/streams/\(Self.escape(stream.category))/\(Self.escape(stream.id))"
    }

    func send(_ method: String, _ path: String, query: [String: String] = [:], body: Data? = nil, headers: [String: String] = [:]) async throws -> (Int, Data) {
        precondition(path.hasPrefix("/"), "a request path is absolute: \(path)")
        var components = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        components.percentEncodedPath = components.percentEncodedPath.trimmingSuffix("/") + path
        if !query.isEmpty {
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        }
        guard let url = components.url else { throw EventStoreError.invalidRequest("cannot form a URL from \(base) and \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else { throw EventStoreError.storage("\(url) answered something other than HTTP") }
            return (http.statusCode, data)
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError.storage("\(method) \(url): \(error.localizedDescription)")
        }
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String, query: [String: String], stream: StreamName? = nil) async throws -> T {
        let (status, data) = try await send("GET", path, query: query)
        guard status == 200 else { throw Self.error(status: status, body: data, stream: stream, expected: nil) }
        return try decode(type, from: data)
    }

    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw EventStoreError.storage("the server's answer is not what Stele's API gives: \(error)")
        }
    }

    /// The error a problem-details answer stands for.
    static func error(status: Int, body: Data, stream: StreamName?, expected: ExpectedVersion?) -> EventStoreError {
        let problem = try? JSONDecoder().decode(ProblemJSON.self, from: body)
        let detail = problem?.detail ?? problem?.title ?? String(decoding: body.prefix(500), as: UTF8.self)
        switch (status, problem?.title) {
        case (409, "wrong expected version"):
            return .wrongExpectedVersion(stream: stream ?? StreamName(category: "", id: ""), expected: expected ?? .any, actual: problem?.actual ?? -1)
        case (409, "idempotency conflict"):
            return .idempotencyConflict(stream: stream ?? StreamName(category: "", id: ""), reason: problem?.reason ?? detail)
        case (400, "not an event category"): return .notAnEventCategory(detail)
        // "no such position" is what servers before the vocabulary was made one answered.
        case (404, "no such checkpoint"), (404, "no such position"): return .checkpointOutOfRange(detail)
        case (400, _), (413, _): return .invalidRequest(detail)
        default: return .storage("HTTP \(status): \(detail)")
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

extension JSONEncoder {
    static let remote: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}
