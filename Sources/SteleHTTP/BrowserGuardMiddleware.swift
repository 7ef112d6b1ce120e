import Foundation
import Hummingbird

/// Keeps web pages from driving the API through the operator's browser.
///
/// A page on any site can make the browser send "simple" requests (a form post, `text/plain`) to
/// 127.0.0.1:8080 without asking, and with DNS rebinding (a name of the attacker's that first
/// resolves to their server, then to 127.0.0.1) it can read the answers too. Three checks close
/// both ways in:
/// - **Host**: only names the server answers to — IP literals, `localhost`, and the names given
///   with `--http-allowed-hosts` (and `--advertised-host`). A rebinding page's requests carry
///   the attacker's name and are refused.
/// - **Origin**: a request that changes something (any method but GET, HEAD, OPTIONS) carrying
///   an `Origin` must come from the server's own origin; browsers always send `Origin` on
///   cross-site writes. No CORS headers are sent, so cross-origin reads stay blocked by the
///   browser.
/// - **Content-Type**: a request with a body must say `application/json` (or `…+json`), which a
///   page cannot send cross-origin without a CORS preflight that is never granted.
struct BrowserGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Host names (lowercased, without port) accepted besides IP literals and `localhost`.
    let allowedHosts: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority
        if let host, !Self.isAllowed(host: Self.hostName(ofAuthority: host), extra: allowedHosts) {
            return JSONResponse.problem(.forbidden, "host not allowed",
                                        detail: "this server does not answer to \(host); add it with --http-allowed-hosts if it is yours")
        }
        let safe = request.method == .get || request.method == .head || request.method == .options
        if !safe {
            if let origin = request.headers[.origin], origin != "http://\(host ?? "")", origin != "https://\(host ?? "")" {
                return JSONResponse.problem(.forbidden, "cross-origin request refused", detail: "a request from \(origin) may not change anything here")
            }
            if request.headers[values: .init("Sec-Fetch-Site")!].contains("cross-site") {
                return JSONResponse.problem(.forbidden, "cross-origin request refused", detail: "Sec-Fetch-Site: cross-site")
            }
        }
        if Self.hasBody(request), !Self.isJSON(request.headers[.contentType]) {
            return JSONResponse.problem(.unsupportedMediaType, "bodies must be JSON",
                                        detail: "send Content-Type: application/json (got \(request.headers[.contentType] ?? "none"))")
        }
        return try await next(request, context)
    }

    /// `example.com:8080` → `example.com`; `[::1]:8080` → `::1`.
    static func hostName(ofAuthority authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<end]).lowercased()
        }
        if let colon = authority.lastIndex(of: ":"), authority.firstIndex(of: ":") == colon {
            return String(authority[..<colon]).lowercased()
        }
        return authority.lowercased()
    }

    static func isAllowed(host: String, extra: Set<String>) -> Bool {
        if host == "localhost" || extra.contains(host) { return true }
        // IP literals cannot be rebound: a page whose origin is an address is that address.
        if host.contains(":") { return host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part) != nil }
    }

    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }
}
