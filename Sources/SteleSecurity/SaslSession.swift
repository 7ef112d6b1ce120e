/// Where a user's SCRAM credentials are kept (the broker's credential store).
public protocol ScramCredentialLookup: Sendable {
    func credential(of user: String, mechanism: ScramMechanism) -> ScramCredential?
}

/// What a password proves about a user.
public enum PasswordCheck: Sendable, Equatable {
    case valid
    case unknownUser
    case wrongPassword
}

extension ScramCredentialLookup {
    /// Checks `password` against one of `user`'s credentials (SHA-512's if the user has one):
    /// each check is a PBKDF2 run, and a login must not cost twice that. An unknown user costs
    /// the same run against a made-up credential, so the time taken does not tell which users
    /// exist. PLAIN logins and HTTP Basic use it.
    public func check(user: String, password: String) -> PasswordCheck {
        let stored = ScramMechanism.allCases.reversed().lazy.compactMap { mechanism in
            self.credential(of: user, mechanism: mechanism).map { (mechanism, $0) }
        }.first
        let (mechanism, credential) = stored ?? (.sha512, ScramCredential.decoy)
        let verified = credential.verifies(password: password, mechanism: mechanism)
        guard stored != nil else { return .unknownUser }
        return verified ? .valid : .wrongPassword
    }
}

/// One connection's SASL state on a SASL listener (Kafka's `SaslServerAuthenticator`): a
/// handshake names the mechanism, authenticate requests carry its messages, and only then may
/// other requests come. With a session lifetime (KIP-368) the client re-authenticates on the
/// same connection before it ends, as the same principal. Free of I/O, driven by the clock
/// the caller passes.
public struct SaslSession: Sendable {
    public let enabled: [SaslMechanism]
    /// How long an authentication holds (Kafka `connections.max.reauth.ms`); nil: for ever.
    public let sessionLifetime: Duration?
    /// The authenticated principal (kept while re-authenticating).
    public private(set) var principal: Principal?
    /// The mechanism the principal authenticated with: re-authentication must use it again
    /// (as Kafka requires), so a session cannot move to a weaker mechanism mid-connection.
    public private(set) var mechanism: SaslMechanism?
    private var expiry: ContinuousClock.Instant?
    private var pending = Pending.none

    enum Pending: Sendable {
        case none
        case mechanism(SaslMechanism)
        case scram(ScramServerExchange)
    }

    public init(enabled: [SaslMechanism], sessionLifetime: Duration? = nil) {
        precondition(!enabled.isEmpty, "a SASL listener enables at least one mechanism")
        self.enabled = enabled
        self.sessionLifetime = sessionLifetime
    }

    /// Whether requests other than SASL's may be served now.
    public func isAuthenticated(at now: ContinuousClock.Instant) -> Bool {
        guard principal != nil else { return false }
        return expiry.map { now < $0 } ?? true
    }

    public enum HandshakeAnswer: Sendable, Equatable {
        case accepted
        case unsupportedMechanism
        /// A handshake in the middle of an exchange, or a second one without a session lifetime.
        case illegalState
    }

    public mutating func handshake(mechanism name: String) -> HandshakeAnswer {
        guard case .none = pending else { return .illegalState }
        // Re-authentication exists only with a session lifetime (KIP-368).
        if principal != nil && sessionLifetime == nil { return .illegalState }
        guard let mechanism = SaslMechanism(rawValue: name), enabled.contains(mechanism) else { return .unsupportedMechanism }
        if let previous = self.mechanism, previous != mechanism { return .unsupportedMechanism }
        pending = .mechanism(mechanism)
        return .accepted
    }

    public enum AuthenticateAnswer: Sendable, Equatable {
        /// Send these bytes; the exchange goes on.
        case challenge([UInt8])
        /// Authenticated: send `final`, and tell the client the session lasts `sessionLifetime`.
        case authenticated(Principal, final: [UInt8], sessionLifetime: Duration?)
        /// Refused: the connection closes after the answer (`reason` is for the log only).
        case failed(reason: String)
        /// An authenticate request with no handshake before it.
        case illegalState
    }

    public mutating func authenticate(_ message: [UInt8], at now: ContinuousClock.Instant,
                                      credentials: some ScramCredentialLookup) -> AuthenticateAnswer {
        switch pending {
        case .none:
            return .illegalState
        case .mechanism(.plain):
            pending = .none
            switch PlainCredentials.parse(message) {
            case let .failure(error):
                return .failed(reason: error.reason)
            case let .success(plain):
                switch credentials.check(user: plain.user, password: plain.password) {
                case .valid: break
                case .unknownUser: return .failed(reason: "unknown user \(plain.user)")
                case .wrongPassword: return .failed(reason: "wrong password for user \(plain.user)")
                }
                return succeed(user: plain.user, mechanism: .plain, final: [], at: now)
            }
        case let .mechanism(mechanism):
            guard let scram = mechanism.scram else { return .illegalState }
            var exchange = ScramServerExchange(mechanism: scram)
            pending = .scram(exchange)
            return step(&exchange, message, at: now, credentials: credentials)
        case var .scram(exchange):
            return step(&exchange, message, at: now, credentials: credentials)
        }
    }

    private mutating func step(_ exchange: inout ScramServerExchange, _ message: [UInt8], at now: ContinuousClock.Instant,
                               credentials: some ScramCredentialLookup) -> AuthenticateAnswer {
        let mechanism = exchange.mechanism
        switch exchange.receive(message, credential: { credentials.credential(of: $0, mechanism: mechanism) }) {
        case let .challenge(bytes):
            pending = .scram(exchange)
            return .challenge(bytes)
        case let .success(user, final):
            pending = .none
            return succeed(user: user, mechanism: mechanism.sasl, final: final, at: now)
        case let .failure(reason):
            pending = .none
            return .failed(reason: reason)
        }
    }

    private mutating func succeed(user: String, mechanism: SaslMechanism, final: [UInt8], at now: ContinuousClock.Instant) -> AuthenticateAnswer {
        let authenticated = Principal.user(user)
        if let principal, principal != authenticated {
            return .failed(reason: "re-authenticated as \(authenticated), not \(principal)")
        }
        principal = authenticated
        self.mechanism = mechanism
        expiry = sessionLifetime.map { now + $0 }
        return .authenticated(authenticated, final: final, sessionLifetime: sessionLifetime)
    }
}
