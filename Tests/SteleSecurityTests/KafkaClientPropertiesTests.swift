import Testing
@testable import SteleSecurity

/// A client properties file as `stele mirror --source-config` reads it: librdkafka's names,
/// every mistake refused with the line and the reason, no secret in the description.
struct KafkaClientPropertiesTests {
    func parsed(_ text: String) throws -> KafkaClientProperties { try KafkaClientProperties.parse(text).get() }

    func refusal(_ text: String) -> String? {
        if case .failure(let error) = KafkaClientProperties.parse(text) { return error.reason }
        return nil
    }

    @Test func anEmptyFileConnectsInClear() throws {
        #expect(try parsed("") == KafkaClientProperties())
        #expect(try parsed("# nothing\n! also nothing\n\n").securityProtocol == .plaintext)
    }

    @Test func aSaslSslFileAsKcatTakesIt() throws {
        let properties = try parsed("""
            # the source data centre
            security.protocol = sasl_ssl
            ssl.ca.location: /etc/stele/dc1-ca.pem
            sasl.mechanisms=SCRAM-SHA-512
            sasl.username=mirror
            sasl.password=s3cret = with equals\r
            ssl.endpoint.identification.algorithm=none
            """)
        #expect(properties.securityProtocol == .saslSSL)
        #expect(properties.caLocation == "/etc/stele/dc1-ca.pem")
        #expect(properties.saslMechanism == .scramSHA512)
        #expect(properties.saslUsername == "mirror")
        #expect(properties.saslPassword == "s3cret = with equals")
        #expect(!properties.verifyHostname)
        #expect(properties.holdsSecret)
        #expect(!properties.description.contains("s3cret"))
        #expect(properties.description.contains("sasl.username=mirror"))
    }

    /// Java's tools name the login in `sasl.jaas.config`; `kafka-configs.sh --command-config`
    /// files work unchanged.
    @Test func javasJaasConfigNamesTheLogin() throws {
        let properties = try parsed("""
            security.protocol=SASL_SSL
            sasl.mechanism=SCRAM-SHA-256
            sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="a=b c";
            """)
        #expect(properties.saslUsername == "admin" && properties.saslPassword == "a=b c")
        #expect(refusal("sasl.jaas.config=ScramLoginModule required username=\"admin\";")?.contains("needs username") == true)
        #expect(refusal("sasl.username=x\nsasl.jaas.config=M required username=\"a\" password=\"b\";")?.contains("both name the login") == true)
    }

    /// JAAS's quoting: escaped quotes and backslashes inside a value, options read as options
    /// (a `username="` inside another value is not the user), the module fitting the mechanism.
    @Test func jaasValuesAreReadAsJaasReadsThem() throws {
        let properties = try parsed(#"""
            security.protocol=SASL_SSL
            sasl.mechanism=SCRAM-SHA-512
            sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required password="x username=\"eve\" \\ y" username="admin";
            """#)
        #expect(properties.saslUsername == "admin")
        #expect(properties.saslPassword == #"x username="eve" \ y"#)
        let plainModule = "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"b\";"
        #expect(refusal(plainModule)?.contains("logs in with ScramLoginModule") == true)
        for broken in [#"M required username="a" password="b""#, #"M required username="a" password="b;"#, #"M username="a" password="b";"#,
                       #"M required username=a password="b";"#, #"M required username="a" username="b" password="c";"#,
                       #"M required username="a" password="b"; N required;"#] {
            #expect(refusal("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.jaas.config=" + broken) != nil, "\(broken)")
        }
    }

    @Test func mutualTLSNeedsBothFiles() throws {
        let properties = try parsed("security.protocol=SSL\nssl.certificate.location=c.pem\nssl.key.location=k.pem\n")
        #expect(properties.certificateLocation == "c.pem" && properties.keyLocation == "k.pem" && properties.verifyHostname)
        #expect(refusal("security.protocol=SSL\nssl.certificate.location=c.pem\n")?.contains("go together") == true)
    }

    @Test func mistakesAreRefusedByName() {
        #expect(refusal("security.protocl=SSL")?.contains("unknown key 'security.protocl'") == true)
        #expect(refusal("security.protocol=TLS")?.contains("is not one of") == true)
        #expect(refusal("just words")?.contains("line 1: expected key=value") == true)
        #expect(refusal("sasl.username=a\nsasl.username=b")?.contains("line 2: sasl.username is set twice") == true)
        #expect(refusal("sasl.mechanism=SCRAM-SHA-256\nsasl.mechanisms=PLAIN")?.contains("set twice") == true)
        #expect(refusal("ssl.ca.location=")?.contains("has no value") == true)
        #expect(refusal("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI")?.contains("sasl.mechanism 'GSSAPI'") == true)
        #expect(refusal("ssl.endpoint.identification.algorithm=sometimes")?.contains("https or none") == true)
    }

    @Test func settingsMustFitTheProtocol() {
        #expect(refusal("security.protocol=SASL_SSL\nsasl.username=u\nsasl.password=p")?.contains("needs sasl.mechanism") == true)
        #expect(refusal("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.password=p")?.contains("needs sasl.username") == true)
        #expect(refusal("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u")?.contains("needs sasl.password") == true)
        // PLAIN in clear would hand the password to anyone on the path.
        #expect(refusal("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=p")?.contains("SASL_SSL") == true)
        // A password with a protocol that never sends it, or a CA for a connection in clear: a
        // misconfiguration that would otherwise connect without the security it asks for.
        #expect(refusal("sasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p")?.contains("only with security.protocol SASL") == true)
        #expect(refusal("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p\nssl.ca.location=ca.pem")?
            .contains("only with security.protocol SSL or SASL_SSL") == true)
    }
}
