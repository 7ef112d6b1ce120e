import Metrics

/// Authentication and authorization counters for `/metrics`: a climbing failure count is
/// someone guessing; climbing denials, a client without the ACLs it needs (or probing).
final class SecurityMetrics: Sendable {
    static let shared = SecurityMetrics()
    let authentications = Counter(label: "stele_sasl_authentications_total")
    let failures = Counter(label: "stele_sasl_authentication_failures_total")
    let denials = Counter(label: "stele_authorization_denials_total")
}
