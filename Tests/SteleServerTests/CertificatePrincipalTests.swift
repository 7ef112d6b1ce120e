import SwiftASN1
import Testing
import X509
@testable import SteleSecurity
@testable import SteleServer

/// A client certificate's subject becomes the principal exactly as Kafka's default mapping
/// writes it (Java's `X500Principal.getName(RFC2253)`), so ACLs written for a Kafka cluster
/// name the same principals here.
struct CertificatePrincipalTests {
    @Test func theSubjectIsWrittenLastRDNFirstWithJavasKeywords() throws {
        let subject = try DistinguishedName {
            CountryName("FR")
            OrganizationName("Example")
            OrganizationalUnitName("payments")
            CommonName("alice")
        }
        #expect(TLSFiles.principal(subject: subject) == .user("CN=alice,OU=payments,O=Example,C=FR"))
    }

    @Test func specialCharactersAreEscapedAsRFC2253Says() throws {
        let subject = try DistinguishedName {
            OrganizationName("Smith, Jones & Co")
            CommonName(" #alice+bob ")
        }
        #expect(TLSFiles.principal(subject: subject) == .user("CN=\\ #alice\\+bob\\ ,O=Smith\\, Jones & Co"))
    }

    /// Attributes Java has no keyword for are written as OID=#DER-in-hex, never dropped: two
    /// certificates differing only there must not map to one principal.
    @Test func otherAttributesKeepTheirOIDAndValue() throws {
        let subject = try DistinguishedName {
            CommonName("alice")
            EmailAddress("a@b.c")
        }
        // IA5String (tag 0x16), 5 bytes.
        #expect(TLSFiles.principal(subject: subject) == .user("1.2.840.113549.1.9.1=#16056140622e63,CN=alice"))
    }

    @Test func aMultiValuedRDNJoinsItsAttributesWithPlus() throws {
        let rdn = RelativeDistinguishedName([
            .init(type: .RDNAttributeType.commonName, utf8String: "alice"),
            .init(type: .RDNAttributeType.organizationalUnitName, utf8String: "ops"),
        ])
        let principal = try #require(TLSFiles.principal(subject: DistinguishedName([rdn])))
        let parts = principal.name.split(separator: "+").map(String.init).sorted()
        #expect(parts == ["CN=alice", "OU=ops"], "\(principal)")
    }

    @Test func anEmptySubjectNamesNobody() {
        #expect(TLSFiles.principal(subject: DistinguishedName()) == nil)
    }
}
