import Foundation
import HTTPTypes
import SteleSecurity

/// What each route of the HTTP API needs, in Kafka's ACL terms: one table, so a route cannot
/// be added without saying who may use it (`HTTPAccessRuleTests` checks that every path of the
/// OpenAPI document has a rule). A category is the topic of the same name.
enum HTTPAccess: Equatable, Sendable {
    /// Served to anyone: `/health`, the OpenAPI document.
    case open
    /// Any authenticated principal; the route shows only what it may DESCRIBE (the console's
    /// overview, as Kafka's Metadata leaves out the topics one may not describe).
    case signedIn
    /// `/metrics`: DESCRIBE on the cluster, unless the server makes it public.
    case metrics
    case need(AclOperation, AclResource)
    /// Appending to a category: WRITE on its topic, and CREATE when the topic does not exist.
    case append(category: String)
    /// A multi-stream append (`POST /streams`): `append` for every category its body names.
    case appendToCategoriesInBody

    static func rule(method: HTTPRequest.Method, path: String) -> HTTPAccess? {
        // Decoded as the router decodes its parameters: `%6Frders` must meet the rules for `orders`.
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        let get = method == .get || method == .head
        switch (parts.first, parts.count) {
        case ("health", 1) where get, ("openapi.json", 1) where get: return .open
        // The console's page, script and style hold no data (its pages read the routes below).
        case (nil, 0) where get, ("console", 1) where get: return .open
        case ("console", 2) where get && (parts[1] == "console.js" || parts[1] == "console.css"): return .open
        case ("overview", 1) where get, ("overview", 2) where get && parts[1] == "subscribe": return .signedIn
        case ("metrics", 1) where get: return .metrics
        // Event store: a category is a topic.
        case ("streams", 1) where method == .post: return .appendToCategoriesInBody
        case ("streams", 3) where method == .post: return .append(category: parts[1])
        case ("streams", 3) where get: return .need(.read, .topic(parts[1]))
        case ("streams", 4) where get && parts[3] == "subscribe": return .need(.read, .topic(parts[1]))
        case ("streams", 5) where parts[3] == "snapshots":
            if get { return .need(.read, .topic(parts[1])) }
            return method == .put ? .need(.write, .topic(parts[1])) : nil
        case ("categories", 2) where get: return .need(.read, .topic(parts[1]))
        case ("categories", 3) where get && (parts[2] == "events" || parts[2] == "subscribe"): return .need(.read, .topic(parts[1]))
        // Activity over all categories.
        case ("appends", 1) where get: return .need(.describe, .cluster)
        // The broker.
        case ("topics", 1) where get: return .need(.describe, .cluster)
        case ("topics", 1) where method == .post: return .need(.create, .cluster)
        case ("topics", 2) where get: return .need(.describe, .topic(parts[1]))
        case ("topics", 2) where method == .delete: return .need(.delete, .topic(parts[1]))
        case ("topics", 3) where get && parts[2] == "records": return .need(.read, .topic(parts[1]))
        case ("topics", 3) where method == .post && parts[2] == "records": return .need(.write, .topic(parts[1]))
        case ("groups", 1) where get: return .need(.describe, .cluster)
        case ("groups", 2) where get: return .need(.describe, .group(parts[1]))
        // Moving offsets is a commit: READ on the group, as OffsetCommit needs.
        case ("groups", 3) where method == .post && parts[2] == "offsets": return .need(.read, .group(parts[1]))
        // Views.
        case ("views", 1) where get: return .need(.describe, .cluster)
        case ("views", 2) where get: return .need(.describe, .view(parts[1]))
        case ("views", 3) where method == .post && (parts[2] == "rebuild" || parts[2] == "retry"): return .need(.alter, .view(parts[1]))
        case ("views", 3) where method == .post && parts[2] == "query": return .need(.read, .view(parts[1]))
        case ("views", 3) where get && parts[2] == "changes": return .need(.read, .view(parts[1]))
        case ("views", 6) where get && parts[2] == "tables" && parts[4] == "rows": return .need(.read, .view(parts[1]))
        // Processors: run by the server for everyone, so managed as the cluster is (their
        // outputs are topics, read under the topics' own rules).
        case ("processors", 1) where get, ("processors", 2) where get: return .need(.describe, .cluster)
        case ("processors", 3) where method == .post && parts[2] == "rebuild": return .need(.alter, .cluster)
        default: return nil
        }
    }
}
