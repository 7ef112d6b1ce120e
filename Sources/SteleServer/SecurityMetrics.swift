import Metrics

/// Authentication counters for `/metrics`: a climbing failure count is someone guessing.
final class SecurityMetrics: Sendable {
    static let shared = SecurityMetrics()
    let authentications = Counter(label: "stele_sasl_authentications_total")
    let failures = Counter(label: "stele_sasl_authentication_failures_total")
}
