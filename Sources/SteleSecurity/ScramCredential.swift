import Crypto
import CryptoExtras
import Foundation

/// SCRAM's hash functions (RFC 5802 with SHA-256, RFC 7677; SHA-512 as Kafka offers it).
public enum ScramMechanism: String, Sendable, CaseIterable, Codable {
    case sha256 = "SCRAM-SHA-256"
    case sha512 = "SCRAM-SHA-512"

    /// Kafka's number for the mechanism in DescribeUserScramCredentials and
    /// AlterUserScramCredentials (`ScramMechanism.java`).
    public var kafkaType: Int8 {
        switch self {
        case .sha256: 1
        case .sha512: 2
        }
    }

    public init?(kafkaType: Int8) {
        guard let mechanism = Self.allCases.first(where: { $0.kafkaType == kafkaType }) else { return nil }
        self = mechanism
    }

    public var sasl: SaslMechanism {
        switch self {
        case .sha256: .scramSHA256
        case .sha512: .scramSHA512
        }
    }

    /// Iterations Kafka accepts (`ScramMechanism.minIterations`/`maxIterations`): fewer makes a
    /// stolen credential cheap to attack; more makes each login costly for the broker.
    public static let minIterations = 4096
    public static let maxIterations = 16384

    /// Bytes of the hash, and so of a salted password.
    public var hashLength: Int { self == .sha256 ? 32 : 64 }

    func hash(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: bytes))
        case .sha512: Array(SHA512.hash(data: bytes))
        }
    }

    func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }

    /// RFC 5802 `Hi(password, salt, i)`: PBKDF2 with this HMAC, one hash length of output. The
    /// password's UTF-8 bytes are used as they are (Kafka applies no SASLprep either).
    public func saltedPassword(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let function: KDF.Insecure.PBKDF2.HashFunction = self == .sha256 ? .sha256 : .sha512
        let length = self == .sha256 ? 32 : 64
        // Iterations are range-checked where credentials are made and read.
        let key = try! KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: function,
                                                     outputByteCount: length, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// What the server keeps of a SCRAM password (RFC 5802 §3): the salt, the iteration count,
/// `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` and
/// `ServerKey = HMAC(SaltedPassword, "Server Key")`. Neither the password nor anything that
/// logs in without it: a stolen credential still needs an offline attack per password.
public struct ScramCredential: Sendable, Equatable, Codable {
    public let salt: [UInt8]
    public let iterations: Int
    public let storedKey: [UInt8]
    public let serverKey: [UInt8]

    public init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// A new credential for `password`, with a fresh random salt unless one is given.
    public static func make(password: String, mechanism: ScramMechanism, iterations: Int = ScramMechanism.minIterations,
                            salt: [UInt8]? = nil) throws -> ScramCredential {
        try checkIterations(iterations)
        var generator = SystemRandomNumberGenerator()
        let salt = salt ?? (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return fromSaltedPassword(mechanism.saltedPassword(password, salt: salt, iterations: iterations),
                                  salt: salt, iterations: iterations, mechanism: mechanism)
    }

    /// The credential AlterUserScramCredentials carries: the client salts and iterates the
    /// password itself and sends only the salted password.
    public static func fromSaltedPassword(_ salted: [UInt8], salt: [UInt8], iterations: Int, mechanism: ScramMechanism) -> ScramCredential {
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        return ScramCredential(salt: salt, iterations: iterations, storedKey: mechanism.hash(clientKey),
                               serverKey: mechanism.hmac(key: salted, Array("Server Key".utf8)))
    }

    static func checkIterations(_ iterations: Int) throws {
        guard (ScramMechanism.minIterations...ScramMechanism.maxIterations).contains(iterations) else {
            throw SecurityConfigurationError("SCRAM iterations must be between \(ScramMechanism.minIterations) and \(ScramMechanism.maxIterations), not \(iterations)")
        }
    }

    /// Whether `password` is the one this credential was made from (for SASL PLAIN and HTTP
    /// Basic, which receive the password itself). Compares in constant time.
    /// A credential no password matches (random keys), checked in place of an unknown user's so
    /// that a refusal takes the same time whether the user exists or not.
    static let decoy: ScramCredential = {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) } }
        return ScramCredential(salt: random(32), iterations: ScramMechanism.minIterations, storedKey: random(64), serverKey: random(64))
    }()

    public func verifies(password: String, mechanism: ScramMechanism) -> Bool {
        guard (ScramMechanism.minIterations...ScramMechanism.maxIterations).contains(iterations) else { return false }
        let candidate = Self.fromSaltedPassword(mechanism.saltedPassword(password, salt: salt, iterations: iterations),
                                                salt: salt, iterations: iterations, mechanism: mechanism)
        return constantTimeEqual(candidate.storedKey, storedKey)
    }
}

/// Equal length and bytes, in a time that does not depend on where they first differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
