import Crypto
import Foundation
import Testing
@testable import SteleSecurity

/// SCRAM as RFC 5802/7677 define it, checked against the RFC's own exchange and against a
/// client written from the RFC; every way a client can get it wrong is refused.
struct ScramTests {
    struct Users: ScramCredentialLookup {
        var credentials: [String: [ScramMechanism: ScramCredential]]
        func credential(of user: String, mechanism: ScramMechanism) -> ScramCredential? { credentials[user]?[mechanism] }
    }

    /// RFC 7677 §3: user "user", password "pencil".
    @Test func theRFC7677ExchangeIsReproducedByteForByte() throws {
        let credential = try ScramCredential.make(password: "pencil", mechanism: .sha256, iterations: 4096,
                                                  salt: Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!))
        var exchange = ScramServerExchange(mechanism: .sha256, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        let first = exchange.receive(Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8)) { $0 == "user" ? credential : nil }
        #expect(first == .challenge(Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8)))
        let final = exchange.receive(Array("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8)) { _ in credential }
        #expect(final == .success(user: "user", final: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8)))
    }

    /// A client from RFC 5802 §3, to drive the server with right and wrong proofs.
    struct Client {
        let mechanism: ScramMechanism
        let user: String
        let password: String
        let nonce = "fyko+d2lbbFgONRv9qkxdawL"
        var firstBare: String { "n=\(user),r=\(nonce)" }

        func final(serverFirst: String, tamper: (inout [UInt8]) -> Void = { _ in }, nonceOverride: String? = nil) -> String {
            let attributes = Dictionary(uniqueKeysWithValues: ScramServerExchange.attributes(serverFirst).map { ($0.key, $0.value) })
            let salted = mechanism.saltedPassword(password, salt: Array(Data(base64Encoded: attributes["s"]!)!), iterations: Int(attributes["i"]!)!)
            let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
            let withoutProof = "c=biws,r=\(nonceOverride ?? attributes["r"]!)"
            let authMessage = Array("\(firstBare),\(serverFirst),\(withoutProof)".utf8)
            var proof = zip(clientKey, mechanism.hmac(key: mechanism.hash(clientKey), authMessage)).map { $0 ^ $1 }
            tamper(&proof)
            return withoutProof + ",p=" + Data(proof).base64EncodedString()
        }
    }

    func run(_ mechanism: ScramMechanism, stored: String, user: String = "alice", password: String, first: String? = nil,
             tamper: (inout [UInt8]) -> Void = { _ in }, nonceOverride: String? = nil) throws -> SaslSession.AuthenticateAnswer {
        let users = Users(credentials: ["alice": [mechanism: try ScramCredential.make(password: stored, mechanism: mechanism)]])
        var session = SaslSession(enabled: [mechanism.sasl])
        #expect(session.handshake(mechanism: mechanism.rawValue) == .accepted)
        let client = Client(mechanism: mechanism, user: user, password: password)
        let answer = session.authenticate(Array((first ?? "n,,\(client.firstBare)").utf8), at: .now, credentials: users)
        guard case let .challenge(serverFirst) = answer else { return answer }
        return session.authenticate(Array(client.final(serverFirst: String(decoding: serverFirst, as: UTF8.self), tamper: tamper,
                                                       nonceOverride: nonceOverride).utf8), at: .now, credentials: users)
    }

    @Test(arguments: ScramMechanism.allCases)
    func theRightPasswordAuthenticates(mechanism: ScramMechanism) throws {
        guard case let .authenticated(principal, final, _) = try run(mechanism, stored: "s3cret", password: "s3cret") else {
            Issue.record("refused")
            return
        }
        #expect(principal == .user("alice") && String(decoding: final, as: UTF8.self).hasPrefix("v="))
    }

    /// librdkafka before 2.2 (Debian's kcat) echoes its own nonce before the combined one;
    /// Kafka accepts a nonce that ends with the server's, and so does Stele.
    @Test func aNonceEndingWithTheServersIsAccepted() throws {
        let client = Client(mechanism: .sha256, user: "alice", password: "s3cret")
        let users = Users(credentials: ["alice": [.sha256: try ScramCredential.make(password: "s3cret", mechanism: .sha256)]])
        var session = SaslSession(enabled: [.scramSHA256])
        _ = session.handshake(mechanism: "SCRAM-SHA-256")
        guard case let .challenge(first) = session.authenticate(Array("n,,\(client.firstBare)".utf8), at: .now, credentials: users) else {
            Issue.record("no challenge")
            return
        }
        let serverFirst = String(decoding: first, as: UTF8.self)
        let combined = ScramServerExchange.attributes(serverFirst)[0].value
        let answer = session.authenticate(Array(client.final(serverFirst: serverFirst, nonceOverride: client.nonce + combined).utf8),
                                          at: .now, credentials: users)
        guard case .authenticated = answer else {
            Issue.record("\(answer)")
            return
        }
    }

    @Test(arguments: ScramMechanism.allCases)
    func everyWrongExchangeIsRefused(mechanism: ScramMechanism) throws {
        func refused(_ answer: SaslSession.AuthenticateAnswer) -> Bool { if case .failed = answer { true } else { false } }
        #expect(refused(try run(mechanism, stored: "s3cret", password: "guess")), "wrong password")
        #expect(refused(try run(mechanism, stored: "s3cret", user: "mallory", password: "s3cret")), "unknown user")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", tamper: { $0[0] ^= 1 })), "proof off by a bit")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", nonceOverride: "fyko+d2lbbFgONRv9qkxdawLother")), "wrong nonce")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", first: "p=tls-unique,,n=alice,r=abc")), "channel binding")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", first: "n,a=bob,n=alice,r=abc")), "someone else's authzid")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", first: "n,,n=alice,r=abc,tokenauth=true")), "delegation token")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", first: "garbage")), "garbage")
        #expect(refused(try run(mechanism, stored: "s3cret", password: "s3cret", first: "n,,n=al=ZZice,r=abc")), "bad saslname escape")
    }

    @Test func plainChecksThePasswordAgainstTheScramCredential() throws {
        let users = Users(credentials: ["alice": [.sha256: try ScramCredential.make(password: "s3cret", mechanism: .sha256)]])
        func plain(_ message: String) -> SaslSession.AuthenticateAnswer {
            var session = SaslSession(enabled: [.plain])
            _ = session.handshake(mechanism: "PLAIN")
            return session.authenticate(Array(message.utf8), at: .now, credentials: users)
        }
        #expect(plain("\0alice\0s3cret") == .authenticated(.user("alice"), final: [], sessionLifetime: nil))
        #expect(plain("alice\0alice\0s3cret") == .authenticated(.user("alice"), final: [], sessionLifetime: nil))
        for wrong in ["\0alice\0guess", "\0bob\0s3cret", "bob\0alice\0s3cret", "\0alice", "\0\0s3cret", "\0alice\0"] {
            if case .authenticated = plain(wrong) { Issue.record("accepted \(wrong.debugDescription)") }
        }
    }

    @Test func handshakesAndStatesAreChecked() throws {
        let users = Users(credentials: ["alice": [.sha512: try ScramCredential.make(password: "pw", mechanism: .sha512)]])
        var session = SaslSession(enabled: [.scramSHA512, .plain], sessionLifetime: .seconds(60))
        #expect(session.authenticate([1], at: .now, credentials: users) == .illegalState, "authenticate before a handshake")
        #expect(session.handshake(mechanism: "SCRAM-SHA-256") == .unsupportedMechanism, "a mechanism the listener does not enable")
        #expect(session.handshake(mechanism: "SCRAM-SHA-512") == .accepted)
        #expect(session.handshake(mechanism: "SCRAM-SHA-512") == .illegalState, "two handshakes in a row")
        // A session lifetime ends the authentication; the same principal may renew it.
        let start = ContinuousClock.now
        let client = Client(mechanism: .sha512, user: "alice", password: "pw")
        guard case let .challenge(first) = session.authenticate(Array("n,,\(client.firstBare)".utf8), at: start, credentials: users) else {
            Issue.record("no challenge")
            return
        }
        let answer = session.authenticate(Array(client.final(serverFirst: String(decoding: first, as: UTF8.self)).utf8), at: start, credentials: users)
        guard case .authenticated(_, _, .seconds(60)?) = answer else {
            Issue.record("\(answer)")
            return
        }
        #expect(session.isAuthenticated(at: start + .seconds(59)))
        #expect(!session.isAuthenticated(at: start + .seconds(60)), "expired")
        // Re-authentication keeps the mechanism: a session cannot move to PLAIN mid-connection.
        #expect(session.handshake(mechanism: "PLAIN") == .unsupportedMechanism, "re-authentication with another mechanism")
        #expect(session.handshake(mechanism: "SCRAM-SHA-512") == .accepted, "re-authentication (KIP-368)")
    }

    /// PLAIN checks one credential (SHA-512's when there is one), and an unknown user costs the
    /// same PBKDF2 run as a known one (against the decoy), so the answer's timing names nobody.
    @Test func plainUsesOneCredentialAndADecoyForUnknownUsers() throws {
        let users = Users(credentials: [
            "only512": [.sha512: try ScramCredential.make(password: "pw", mechanism: .sha512)],
            "both": [.sha256: try ScramCredential.make(password: "old", mechanism: .sha256),
                     .sha512: try ScramCredential.make(password: "new", mechanism: .sha512)],
        ])
        func plain(_ user: String, _ password: String) -> SaslSession.AuthenticateAnswer {
            var session = SaslSession(enabled: [.plain])
            _ = session.handshake(mechanism: "PLAIN")
            return session.authenticate(Array("\0\(user)\0\(password)".utf8), at: .now, credentials: users)
        }
        #expect(plain("only512", "pw") == .authenticated(.user("only512"), final: [], sessionLifetime: nil))
        #expect(plain("both", "new") == .authenticated(.user("both"), final: [], sessionLifetime: nil))
        #expect(plain("both", "old") == .failed(reason: "wrong password for user both"), "only SHA-512's credential is checked")
        #expect(plain("nobody", "pw") == .failed(reason: "unknown user nobody"))
        #expect(!ScramCredential.decoy.verifies(password: "", mechanism: .sha512))
    }

    @Test func iterationsOutsideKafkasRangeAreRefused() {
        #expect(throws: SecurityConfigurationError.self) { try ScramCredential.make(password: "pw", mechanism: .sha256, iterations: 4095) }
        #expect(throws: SecurityConfigurationError.self) { try ScramCredential.make(password: "pw", mechanism: .sha256, iterations: 16385) }
    }
}

/// The client side against the RFC's own exchange and against Stele's server.
struct ScramClientTests {
    /// RFC 7677 §3: user "user", password "pencil", the RFC's nonces.
    @Test func theRFC7677ClientMessagesAreReproduced() throws {
        var client = ScramClientExchange(mechanism: .sha256, user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.firstMessage == Array("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".utf8))
        let final = try client.finalMessage(serverFirst: Array("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8))
        #expect(final == Array("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".utf8))
        #expect(client.verify(serverFinal: Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8)))
        #expect(!client.verify(serverFinal: Array("v=AAAA".utf8)))
    }

    @Test func aServerThatDoesNotExtendTheNonceOrAsksTooFewIterationsIsRefused() {
        var client = ScramClientExchange(mechanism: .sha256, user: "user", password: "pencil", nonce: "abc")
        #expect(throws: SecurityConfigurationError.self) { try client.finalMessage(serverFirst: Array("r=xyz123,s=AAAA,i=4096".utf8)) }
        #expect(throws: SecurityConfigurationError.self) { try client.finalMessage(serverFirst: Array("r=abc123,s=AAAA,i=100".utf8)) }
    }

    @Test func theClientLogsInToStelesServer() throws {
        let credential = try ScramCredential.make(password: "s3cret", mechanism: .sha512)
        var session = SaslSession(enabled: [.scramSHA512])
        #expect(session.handshake(mechanism: "SCRAM-SHA-512") == .accepted)
        let users = ScramTests.Users(credentials: ["alice": [.sha512: credential]])
        var client = ScramClientExchange(mechanism: .sha512, user: "alice", password: "s3cret")
        guard case let .challenge(serverFirst) = session.authenticate(client.firstMessage, at: .now, credentials: users) else {
            Issue.record("no challenge")
            return
        }
        guard case let .authenticated(principal, serverFinal, _) = session.authenticate(try client.finalMessage(serverFirst: serverFirst), at: .now, credentials: users) else {
            Issue.record("not authenticated")
            return
        }
        #expect(principal == .user("alice"))
        #expect(client.verify(serverFinal: serverFinal))
    }
}
