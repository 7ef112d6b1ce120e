import Testing
@testable import SteleSecurity

/// Kafka's ACL semantics, one rule per test: what matches, what is implied, and that a deny
/// always wins.
struct AuthorizerTests {
    let alice = Principal.user("alice")
    let bob = Principal.user("bob")

    func allow(_ principal: String, _ operation: AclOperation, _ name: String, type: AclResourceType = .topic,
               pattern: AclPatternType = .literal, host: String = "*") -> AclBinding {
        AclBinding(resourceType: type, resourceName: name, patternType: pattern, principal: principal, host: host, operation: operation)
    }

    func deny(_ principal: String, _ operation: AclOperation, _ name: String, type: AclResourceType = .topic,
              pattern: AclPatternType = .literal) -> AclBinding {
        AclBinding(resourceType: type, resourceName: name, patternType: pattern, principal: principal, operation: operation, permission: .deny)
    }

    @Test func withNoAclEverythingIsDeniedUnlessConfiguredOtherwise() {
        let strict = Authorizer()
        #expect(!strict.authorize(alice, host: "10.0.0.1", .read, .topic("orders"), bindings: []))
        let lenient = Authorizer(allowEveryoneIfNoAclFound: true)
        #expect(lenient.authorize(alice, host: "10.0.0.1", .read, .topic("orders"), bindings: []))
        // Once any ACL names the resource, the lenient default no longer applies to it.
        let bindings = [allow("User:bob", .read, "orders")]
        #expect(!lenient.authorize(alice, host: "10.0.0.1", .read, .topic("orders"), bindings: bindings))
        #expect(lenient.authorize(alice, host: "10.0.0.1", .read, .topic("payments"), bindings: bindings))
    }

    @Test func aLiteralAclNamesOneResourceAndStarNamesAll() {
        let authorizer = Authorizer()
        let bindings = [allow("User:alice", .write, "orders"), allow("User:bob", .read, "*")]
        #expect(authorizer.authorize(alice, host: "h", .write, .topic("orders"), bindings: bindings))
        #expect(!authorizer.authorize(alice, host: "h", .write, .topic("orders-eu"), bindings: bindings))
        #expect(!authorizer.authorize(alice, host: "h", .write, .group("orders"), bindings: bindings), "another resource type")
        #expect(authorizer.authorize(bob, host: "h", .read, .topic("anything"), bindings: bindings))
        #expect(!authorizer.authorize(bob, host: "h", .write, .topic("anything"), bindings: bindings))
    }

    @Test func aPrefixedAclNamesEveryResourceStartingWithIt() {
        let authorizer = Authorizer()
        let bindings = [allow("User:alice", .write, "orders-", pattern: .prefixed)]
        #expect(authorizer.authorize(alice, host: "h", .write, .topic("orders-eu"), bindings: bindings))
        #expect(authorizer.authorize(alice, host: "h", .write, .topic("orders-"), bindings: bindings))
        #expect(!authorizer.authorize(alice, host: "h", .write, .topic("orders"), bindings: bindings))
        #expect(!authorizer.authorize(alice, host: "h", .write, .topic("xorders-eu"), bindings: bindings))
    }

    @Test func aDenyWinsOverEveryAllow() {
        let authorizer = Authorizer()
        let bindings = [
            allow("User:alice", .all, "orders-", pattern: .prefixed),
            deny("User:alice", .write, "orders-secret"),
            allow("User:*", .read, "public"), deny("User:*", .read, "public"),
        ]
        #expect(authorizer.authorize(alice, host: "h", .write, .topic("orders-eu"), bindings: bindings))
        #expect(!authorizer.authorize(alice, host: "h", .write, .topic("orders-secret"), bindings: bindings))
        #expect(authorizer.authorize(alice, host: "h", .read, .topic("orders-secret"), bindings: bindings), "the deny is for WRITE only")
        #expect(!authorizer.authorize(alice, host: "h", .read, .topic("public"), bindings: bindings))
        let denyAll = bindings + [deny("User:alice", .all, "orders-", pattern: .prefixed)]
        #expect(!authorizer.authorize(alice, host: "h", .read, .topic("orders-eu"), bindings: denyAll))
    }

    @Test func impliedOperationsAreKafkas() {
        let authorizer = Authorizer()
        for granting in [AclOperation.read, .write, .delete, .alter] {
            #expect(authorizer.authorize(alice, host: "h", .describe, .topic("t"), bindings: [allow("User:alice", granting, "t")]), "\(granting) grants DESCRIBE")
        }
        #expect(!authorizer.authorize(alice, host: "h", .describe, .topic("t"), bindings: [allow("User:alice", .create, "t")]))
        #expect(!authorizer.authorize(alice, host: "h", .read, .topic("t"), bindings: [allow("User:alice", .write, "t")]), "WRITE does not grant READ")
        #expect(authorizer.authorize(alice, host: "h", .describeConfigs, .topic("t"), bindings: [allow("User:alice", .alterConfigs, "t")]))
        #expect(authorizer.authorize(alice, host: "h", .delete, .topic("t"), bindings: [allow("User:alice", .all, "t")]))
        // A DENY of READ does not deny DESCRIBE granted otherwise.
        let mixed = [allow("User:alice", .write, "t"), deny("User:alice", .read, "t")]
        #expect(authorizer.authorize(alice, host: "h", .describe, .topic("t"), bindings: mixed))
    }

    @Test func principalsAndHostsMatchExactlyOrByWildcard() {
        let authorizer = Authorizer()
        let bindings = [allow("User:alice", .read, "t", host: "10.0.0.1"), allow("User:*", .write, "t")]
        #expect(authorizer.authorize(alice, host: "10.0.0.1", .read, .topic("t"), bindings: bindings))
        #expect(!authorizer.authorize(alice, host: "10.0.0.2", .read, .topic("t"), bindings: bindings))
        #expect(!authorizer.authorize(bob, host: "10.0.0.1", .read, .topic("t"), bindings: bindings))
        #expect(authorizer.authorize(bob, host: "any", .write, .topic("t"), bindings: bindings))
        // A certificate subject is a principal name like any other.
        let subject = Principal.user("CN=alice,O=Example")
        #expect(authorizer.authorize(subject, host: "h", .read, .topic("u"), bindings: [allow("User:CN=alice,O=Example", .read, "u")]))
        #expect(!authorizer.authorize(alice, host: "h", .read, .topic("u"), bindings: [allow("User:CN=alice,O=Example", .read, "u")]))
    }

    @Test func superUsersMayDoAnythingEvenWhenDenied() {
        let authorizer = Authorizer(superUsers: [.user("admin")])
        #expect(authorizer.authorize(.user("admin"), host: "h", .alter, .cluster, bindings: [deny("User:*", .all, "kafka-cluster", type: .cluster)]))
        #expect(!authorizer.authorize(alice, host: "h", .alter, .cluster, bindings: []))
    }

    /// KIP-679: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
    @Test func writeOnAnyTopicIsFoundByResourceType() {
        let authorizer = Authorizer()
        #expect(authorizer.authorizeAny(alice, host: "h", .write, .topic, bindings: [allow("User:alice", .write, "orders-", pattern: .prefixed)]))
        #expect(!authorizer.authorizeAny(alice, host: "h", .write, .topic, bindings: [allow("User:alice", .read, "orders")]))
        #expect(!authorizer.authorizeAny(alice, host: "h", .write, .topic, bindings: [
            allow("User:alice", .write, "orders"), deny("User:alice", .write, "*"),
        ]), "denied on every topic")
        #expect(!authorizer.authorizeAny(alice, host: "h", .write, .topic, bindings: [
            allow("User:alice", .write, "orders"), deny("User:alice", .write, "orders"),
        ]), "the only allowed name is denied too")
        #expect(!authorizer.authorizeAny(alice, host: "h", .write, .topic, bindings: [
            allow("User:alice", .write, "orders-eu"), deny("User:alice", .write, "orders-", pattern: .prefixed),
        ]), "a deny prefix dominates the allowed name")
        #expect(authorizer.authorizeAny(alice, host: "h", .write, .topic, bindings: [
            allow("User:alice", .write, "orders-eu"), deny("User:alice", .write, "orders-us"),
        ]))
        // With allow.everyone.if.no.acl.found, ACLs on other topics do not stop an idempotent producer.
        let lenient = Authorizer(allowEveryoneIfNoAclFound: true)
        #expect(lenient.authorizeAny(alice, host: "h", .write, .topic, bindings: [allow("User:bob", .write, "orders")]))
    }

    /// One spelling per address: an IPv4 client on a dual-stack socket and Kafka's long IPv6
    /// form match the ACLs written the usual way; a host that is no address is refused.
    @Test func hostsAreComparedAsAddresses() {
        #expect(AclHost.normalize("::ffff:10.0.0.5") == "10.0.0.5")
        #expect(AclHost.normalize("0:0:0:0:0:0:0:1") == "::1")
        #expect(AclHost.normalize("localhost") == nil)
        let binding = deny("User:bob", .read, "t")
        var fromHost = binding
        fromHost.host = "0:0:0:0:0:0:0:1"
        #expect(fromHost.problem == "write the host 0:0:0:0:0:0:0:1 as ::1")
        let kafkaSpelling = AclBinding(resourceType: .topic, resourceName: "t", principal: "User:bob", host: "0:0:0:0:0:0:0:1", operation: .read)
        #expect(kafkaSpelling.host == "::1" && kafkaSpelling.problem == nil, "stored in one spelling")
        #expect(AclBinding(resourceType: .topic, resourceName: "t", principal: "User:bob", host: "localhost", operation: .read).problem != nil)
        let authorizer = Authorizer()
        let bindings = [allow("User:bob", .read, "t"), AclBinding(resourceType: .topic, resourceName: "t", principal: "User:bob",
                                                                  host: "10.0.0.5", operation: .read, permission: .deny)]
        #expect(!authorizer.authorize(.user("bob"), host: AclHost.normalize("::ffff:10.0.0.5")!, .read, .topic("t"), bindings: bindings))
    }

    @Test func filtersMatchAsDescribeAndDeleteAclsDo() {
        let literal = allow("User:alice", .read, "orders")
        let prefixed = allow("User:alice", .read, "ord", pattern: .prefixed)
        let star = allow("User:bob", .write, "*")
        let group = allow("User:alice", .read, "orders", type: .group)
        let all = [literal, prefixed, star, group]
        #expect(all.filter(AclBindingFilter.all.matches) == all)
        #expect(all.filter(AclBindingFilter(resourceType: .topic, resourceName: "orders", pattern: .match).matches) == [literal, prefixed, star])
        #expect(all.filter(AclBindingFilter(resourceName: "orders", pattern: .exactly(.literal)).matches) == [literal, group])
        #expect(all.filter(AclBindingFilter(pattern: .exactly(.prefixed)).matches) == [prefixed])
        #expect(all.filter(AclBindingFilter(principal: "User:bob").matches) == [star])
        #expect(all.filter(AclBindingFilter(operation: .write, permission: .allow).matches) == [star])
    }

    @Test func bindingsThatCannotBeStoredSayWhy() {
        #expect(allow("alice", .read, "t").problem != nil, "a principal without a type")
        #expect(allow("User:alice", .read, "").problem != nil)
        #expect(allow("User:alice", .read, "other", type: .cluster).problem != nil)
        #expect(allow("User:alice", .read, "*", pattern: .prefixed).problem != nil)
        #expect(allow("User:alice", .read, "kafka-cluster", type: .cluster).problem == nil)
        #expect(AclOperation(name: "idempotent-write") == .idempotentWrite)
        #expect(AclOperation(name: "DescribeConfigs") == .describeConfigs)
        #expect(AclOperation(name: "FLY") == nil)
    }
}
