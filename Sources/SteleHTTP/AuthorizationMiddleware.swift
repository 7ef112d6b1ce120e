import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Synchronization
import SteleBroker
import SteleLog
import SteleSecurity

/// Authenticates every request (a bearer token from `stele tokens create`, or HTTP Basic with
/// a SCRAM user's password) and authorizes it with the broker's ACLs, as the Kafka listeners
/// do, by ``HTTPAccess``'s table. Without credentials: 401 with `WWW-Authenticate`; with
/// credentials that do not allow the request: 403. Both are problem details. `/health` and
/// the OpenAPI document stay open, `/metrics` too when the server says so.
struct AuthorizationMiddleware<Context: VisibilityRequestContext>: RouterMiddleware {
    let authorizer: Authorizer
    let broker: Broker
    let publicMetrics: Bool
    let passwords: VerifiedPasswords
    let logger: Logger
    /// The body limit of the routes: a multi-stream append's body is read here to learn its categories.
    var maxBodyBytes = 1 << 20

    /// Bearer only: a Basic challenge would make browsers prompt for a password on any page
    /// that reaches the API, and makes Linux URLSession wait for credentials it will never get
    /// (swift-corelibs-foundation #5456). Clients send Basic without being asked (`curl -u`).
    static var challenge: String { #"Bearer realm="stele""# }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let access = HTTPAccess.rule(method: request.method, path: request.uri.path) else {
            // No route has no rule: an unknown path is still refused to an unauthenticated client,
            // so what exists is not revealed to it.
            guard await principal(of: request) != nil else { return unauthorized("credentials are required") }
            return try await next(request, context)
        }
        if access == .open || (access == .metrics && publicMetrics) { return try await next(request, context) }
        guard let principal = await principal(of: request) else {
            return unauthorized(request.headers[.authorization] == nil ? "credentials are required"
                                : "the token or password is not valid (unknown, revoked or expired)")
        }
        let address = context.remoteAddress?.ipAddress ?? ""
        let host = AclHost.normalize(address) ?? address
        var request = request
        if access == .appendToCategoriesInBody {
            // The categories are in the body: read it (the route gets it again), then every one
            // must be allowed. A body that does not parse names none; the route refuses it.
            guard let body = try? await request.collectBody(upTo: maxBodyBytes) else {
                return JSONResponse.problem(.contentTooLarge, "the body is larger than \(maxBodyBytes) bytes")
            }
            let categories = StreamRoutes.categories(inMultiAppend: Array(body.readableBytesView))
            guard categories.allSatisfy({ allows(.append(category: $0), principal, host) }) else {
                Counter(label: "stele_authorization_denials_total").increment()
                return JSONResponse.problem(.forbidden, "not authorized", detail: "\(principal) may not append to every category of this append")
            }
        }
        guard access == .appendToCategoriesInBody || allows(access, principal, host) else {
            Counter(label: "stele_authorization_denials_total").increment()
            return JSONResponse.problem(.forbidden, "not authorized", detail: "\(principal) may not \(request.method) \(request.uri.path)")
        }
        var context = context
        context.principalMay = { [self] operation, resource in authorize(principal, host, operation, resource) }
        var response = try await next(request, context)
        // A streamed answer (an event subscription, a view's changes) is checked again as it
        // goes: once the token expires or is revoked, the user deleted or the ACL removed, it
        // ends, as a Kafka consumer's next Fetch would be refused.
        let credential = request.headers[.authorization] ?? ""
        let stillAllowed: @Sendable () -> Bool = { [self] in
            stillValid(credential) && allows(access, principal, host)
        }
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(ReauthorizingWriter(base: writer, stillAllowed: stillAllowed))
        }
        return response
    }

    private func allows(_ access: HTTPAccess, _ principal: Principal, _ host: String) -> Bool {
        switch access {
        case .open: return true
        // The route shows only what the principal may describe (`principalMay`).
        case .signedIn: return true
        case .metrics: return authorize(principal, host, .describe, .cluster)
        case let .need(operation, resource): return authorize(principal, host, operation, resource)
        // Checked on the body, in `handle`; here it stands for the request as a whole.
        case .appendToCategoriesInBody: return true
        case let .append(category):
            return authorize(principal, host, .write, .topic(category))
                && (broker.topic(category) != nil || authorize(principal, host, .create, .cluster) || authorize(principal, host, .create, .topic(category)))
        }
    }

    /// Whether the credential that opened a stream still stands: the token is neither expired
    /// nor revoked, or the Basic user still exists (the password was checked at the start).
    private func stillValid(_ header: String) -> Bool {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return false }
        switch parts[0].lowercased() {
        case "bearer":
            guard let token = AccessToken(text: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                  case .valid = broker.tokens.verify(token) else { return false }
            return true
        case "basic":
            guard let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return false }
            let user = String(text[..<colon])
            return ScramMechanism.allCases.contains { broker.credentials.credential(of: user, mechanism: $0) != nil }
        default:
            return false
        }
    }

    private func authorize(_ principal: Principal, _ host: String, _ operation: AclOperation, _ resource: AclResource) -> Bool {
        guard let bindings = broker.acls.bindings else { return authorizer.superUsers.contains(principal) }
        return authorizer.authorize(principal, host: host, operation, resource, bindings: bindings)
    }

    private func unauthorized(_ detail: String) -> Response {
        var response = JSONResponse.problem(.unauthorized, "authentication required", detail: detail)
        response.headers[.wwwAuthenticate] = Self.challenge
        return response
    }

    /// Who the request's `Authorization` header proves it is, if anyone.
    private func principal(of request: Request) async -> Principal? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "bearer":
            guard let token = AccessToken(text: String(parts[1]).trimmingCharacters(in: .whitespaces)) else { return nil }
            switch broker.tokens.verify(token) {
            case let .valid(principal): return principal
            case let .expired(principal):
                logger.info("expired token refused", metadata: ["token": "\(token.id)", "principal": "\(principal)"])
                return nil
            case .unknown:
                logger.info("unknown token refused", metadata: ["token": "\(token.id)"])
                return nil
            }
        case "basic":
            guard let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
            let user = String(text[..<colon])
            let password = String(text[text.index(after: colon)...])
            guard await passwords.verify(user: user, password: password, credentials: broker.credentials) else {
                logger.info("HTTP Basic login refused", metadata: ["user": "\(user)"])
                return nil
            }
            return .user(user)
        default:
            return nil
        }
    }
}

/// HTTP Basic logins recently verified, so a client sending its password with every request
/// does not cost a PBKDF2 run each time. Keeps a keyed hash of user and password (the key is
/// random per process), never the password; at most `capacity` entries, each trusted for
/// `lifetime` (a changed or deleted password stops working within it).
final class VerifiedPasswords: Sendable {
    private let key = SymmetricKey(size: .bits256)
    private let entries = Mutex<[[UInt8]: ContinuousClock.Instant]>([:])
    /// Password checks queued or running; past `maxPending` a Basic login is refused at once
    /// (a token costs no PBKDF2 and is never refused for this).
    private let pending = Mutex(0)
    static let maxPending = 32
    let capacity: Int
    let lifetime: Duration
    /// PBKDF2 runs here, never on the pool the connections share; one thread, so a flood of
    /// logins takes one core at most.
    static let checking = IOExecutor(threadCount: 1, name: "stele-http-auth")

    init(capacity: Int = 1024, lifetime: Duration = .seconds(60)) {
        self.capacity = capacity
        self.lifetime = lifetime
    }

    func verify(user: String, password: String, credentials: CredentialStore) async -> Bool {
        // The user's length first: no other user and password give the same bytes.
        let fingerprint = Array(HMAC<SHA256>.authenticationCode(for: Array("\(user.utf8.count):\(user)\(password)".utf8), using: key))
        let now = ContinuousClock.now
        if let verified = entries.withLock({ $0[fingerprint] }), now - verified < lifetime { return true }
        // A bounded queue: clients sending made-up passwords cannot make real logins wait
        // behind an ever longer line of PBKDF2 runs.
        guard pending.withLock({ pending in
            guard pending < Self.maxPending else { return false }
            pending += 1
            return true
        }) else { return false }
        defer { pending.withLock { $0 -= 1 } }
        let valid = (try? await Self.checking.run { credentials.check(user: user, password: password) == .valid }) ?? false
        guard valid else { return false }
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { now - $0.value < lifetime }
                if entries.count >= capacity, let oldest = entries.min(by: { $0.value < $1.value })?.key { entries[oldest] = nil }
            }
            entries[fingerprint] = now
        }
        return true
    }
}

/// Passes a response's bytes on while the request is still allowed (checked at most once a
/// second; an SSE stream writes at least a heartbeat every 15 s); then ends the response.
struct ReauthorizingWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let stillAllowed: @Sendable () -> Bool
    var lastCheck = ContinuousClock.now

    struct NoLongerAllowed: Error, CustomStringConvertible {
        var description: String { "the stream's credentials or rights were withdrawn" }
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        let now = ContinuousClock.now
        if now - lastCheck >= .seconds(1) {
            lastCheck = now
            guard stillAllowed() else { throw NoLongerAllowed() }
        }
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
