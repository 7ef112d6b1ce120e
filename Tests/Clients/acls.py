"""Kafka clients against a Stele deciding requests with ACLs (`serve --authorizer acl`).

    python3 acls.py DIR SASL_SSL_PORT SSL_PORT

Users (SCRAM-SHA-256): admin / admin-pw (a super user), alice / alice-pw, bob / bob-pw. DIR holds
ca.pem and client.pem/client.key (subject C=FR/O=Example/OU=payments/CN=alice). The ACLs made
with `stele acls add` before the server started:
    alice:  WRITE, CREATE on topics orders-* ; READ on topic orders-in ; READ on group g-alice ;
            DENY WRITE on topic orders-secret
    bob:    READ on topic orders-in
    User:CN=alice,OU=payments,O=Example,C=FR: ALL on topics tls-* ; READ on groups tls-*
Every case prints one line; the first failure does not stop the others; exit 1 if any failed.
"""
import os, sys, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from progress import Progress

directory, sasl_port, ssl_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ca = os.path.join(directory, "ca.pem")
failures = 0


def case(name, ok, detail=""):
    global failures
    print(("OK   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures += 1


def sasl(user):
    return dict(bootstrap_servers=f"127.0.0.1:{sasl_port}", security_protocol="SASL_SSL", ssl_cafile=ca, sasl_mechanism="SCRAM-SHA-256",
                sasl_plain_username=user, sasl_plain_password=f"{user}-pw")


def confluent(user):
    return {"bootstrap.servers": f"127.0.0.1:{sasl_port}", "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": f"{user}-pw"}


mtls = dict(bootstrap_servers=f"127.0.0.1:{ssl_port}", security_protocol="SSL", ssl_cafile=ca,
            ssl_certfile=os.path.join(directory, "client.pem"), ssl_keyfile=os.path.join(directory, "client.key"))


def produce(config, topic, values):
    """Sends and flushes; returns None or the error's class name."""
    from kafka import KafkaProducer
    producer = KafkaProducer(max_block_ms=30000, **config)
    try:
        for value in values:
            producer.send(topic, value.encode()).get(timeout=60)
        return None
    except Exception as error:
        return type(error).__name__ + ": " + str(error)
    finally:
        producer.close(timeout=5)


def consume(config, topic, group, count):
    """Reads `count` records in `group`; returns (records, error class name or None)."""
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", consumer_timeout_ms=1000, **config)
    got, progress = [], Progress(f"{group} to read {topic}")
    try:
        while len(got) < count:
            got += [m.value.decode() for m in consumer]
            progress.check(len(got))
        consumer.commit()
        return got, None
    except Exception as error:
        return got, type(error).__name__
    finally:
        consumer.close()


def authorization_failed(error):
    return error is not None and "AuthorizationFailed" in error


# The super user prepares the topics (its ACLs need none).
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient, NewTopic,
                         ResourcePattern, ResourcePatternFilter, ResourceType)
admin = KafkaAdminClient(**sasl("admin"))
admin.create_topics([NewTopic(name, 1, 1) for name in ["orders-in", "orders-secret", "hidden"]])
case("the super user creates topics whatever the ACLs", produce(sasl("admin"), "hidden", ["h"]) is None)

# Allowed by literal and prefixed ACLs.
values = [f"order-{i}" for i in range(5)]
error = produce(sasl("alice"), "orders-in", values)
case("alice produces to orders-in (WRITE on the prefix orders-)", error is None, error)
got, error = consume(sasl("alice"), "orders-in", "g-alice", 5)
case("alice consumes orders-in in group g-alice and commits (READ on both)", got == values and error is None, f"{got} {error}")
error = produce(sasl("alice"), "orders-new", ["x"])
case("alice creates orders-new by producing to it (CREATE on the prefix)", error is None, error)

# Refused.
error = produce(sasl("alice"), "orders-secret", ["leak"])
case("a DENY wins over the prefixed ALLOW: alice cannot write orders-secret", authorization_failed(error), error)
error = produce(sasl("bob"), "orders-in", ["forged"])
case("bob cannot produce without WRITE", authorization_failed(error), error)
got, error = consume(sasl("bob"), "orders-in", "g-bob", 1)
case("bob cannot consume in a group he has no READ on (GroupAuthorizationFailed)", error == "GroupAuthorizationFailedError", f"{got} {error}")
error = produce(sasl("alice"), "payments", ["x"])
case("alice cannot create a topic outside her prefix", error is not None, error)

# Metadata shows only what one may describe.
from confluent_kafka.admin import AdminClient
seen = set(AdminClient(confluent("alice")).list_topics(timeout=30).topics)
case("Metadata hides topics alice may not describe", {"orders-in", "orders-secret"} <= seen and "hidden" not in seen, str(sorted(seen)))
seen = set(AdminClient(confluent("bob")).list_topics(timeout=30).topics)
case("Metadata shows bob only orders-in", seen == {"orders-in"}, str(sorted(seen)))
seen = set(AdminClient(confluent("admin")).list_topics(timeout=30).topics)
case("Metadata shows the super user everything", {"orders-in", "orders-secret", "hidden", "orders-new"} <= seen, str(sorted(seen)))

# ACLs through kafka-python's admin client (DescribeAcls, CreateAcls, DeleteAcls v3, flexible).
everything = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                       resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
acls, error = admin.describe_acls(everything)
case("kafka-python describe_acls lists the eight ACLs made with stele acls add", len(acls) == 8 and error.errno == 0, f"{acls} {error}")
bob_group = ACL(principal="User:bob", host="*", operation=ACLOperation.READ, permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(ResourceType.GROUP, "g-bob", ACLResourcePatternType.LITERAL))
result = admin.create_acls([bob_group])
case("kafka-python create_acls: READ on group g-bob for bob", len(result["succeeded"]) == 1 and not result["failed"], str(result))
got, error = consume(sasl("bob"), "orders-in", "g-bob", 5)
case("bob now consumes in g-bob, without a restart", got == values and error is None, f"{got} {error}")
try:
    KafkaAdminClient(**sasl("alice")).describe_acls(everything)
    refused = False
except Exception as exception:
    refused = "ClusterAuthorization" in type(exception).__name__
case("alice cannot list ACLs (no DESCRIBE on the cluster)", refused)

# The same through confluent-kafka (librdkafka).
from confluent_kafka.admin import AclBinding, AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType
from confluent_kafka.admin import ResourceType as CResourceType
confluent_admin = AdminClient(confluent("admin"))
filter_bob = AclBindingFilter(CResourceType.GROUP, "g-bob", ResourcePatternType.LITERAL, "User:bob", None, AclOperation.ANY, AclPermissionType.ANY)
deleted = list(confluent_admin.delete_acls([filter_bob]).values())[0].result(timeout=30)
case("confluent-kafka delete_acls removes bob's group ACL", len(deleted) == 1 and deleted[0].name == "g-bob", str(deleted))
got, error = consume(sasl("bob"), "orders-in", "g-bob", 1)
case("bob is refused again once the ACL is deleted", error == "GroupAuthorizationFailedError", f"{got} {error}")
carol = AclBinding(CResourceType.TOPIC, "audit-", ResourcePatternType.PREFIXED, "User:carol", "*", AclOperation.READ, AclPermissionType.ALLOW)
list(confluent_admin.create_acls([carol]).values())[0].result(timeout=30)
found = confluent_admin.describe_acls(AclBindingFilter(CResourceType.ANY, None, ResourcePatternType.ANY, "User:carol", None,
                                                       AclOperation.ANY, AclPermissionType.ANY)).result(timeout=30)
case("confluent-kafka create_acls and describe_acls (a prefixed ACL)",
     len(found) == 1 and found[0].name == "audit-" and found[0].resource_pattern_type == ResourcePatternType.PREFIXED, str(found))
bad = AclBinding(CResourceType.TOPIC, "x", ResourcePatternType.LITERAL, "carol", "*", AclOperation.READ, AclPermissionType.ALLOW)
try:
    list(confluent_admin.create_acls([bad]).values())[0].result(timeout=30)
    refused = False
except Exception:
    refused = True
case("an ACL whose principal is not TYPE:NAME is refused", refused)

# SCRAM users through the admin API (KIP-554), from confluent-kafka: created, described, used, deleted.
from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                   UserScramCredentialUpsertion)


def can_login(user, password):
    """Waits for librdkafka to either answer Metadata or report _AUTHENTICATION: no deadline decides."""
    from confluent_kafka import KafkaError
    errors = []
    client = AdminClient({**confluent(user), "sasl.password": password, "error_cb": lambda error: errors.append(error)})
    progress = Progress(f"{user} to log in or be refused")
    while True:
        try:
            client.list_topics(timeout=1)
            return True
        except Exception:
            client.poll(0.2)  # error_cb is served by poll
        if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
            return False
        progress.check(len(errors))


upsert = UserScramCredentialUpsertion("dave", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"dave-pw")
list(confluent_admin.alter_user_scram_credentials([upsert]).values())[0].result(timeout=30)
described = list(confluent_admin.describe_user_scram_credentials(["dave"]).values())[0].result(timeout=30)
infos = [(i.mechanism, i.iterations) for i in described.scram_credential_infos]
case("confluent-kafka alter_user_scram_credentials creates dave; describe shows SCRAM-SHA-256 with 8192 iterations",
     infos == [(ScramMechanism.SCRAM_SHA_256, 8192)], str(infos))
case("dave logs in at once with the password the admin client salted", can_login("dave", "dave-pw"))
alice_admin = AdminClient(confluent("alice"))  # kept: a collected client cancels its futures
try:
    list(alice_admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"x")]).values())[0].result(timeout=30)
    refused = False
except Exception as exception:
    refused = "CLUSTER_AUTHORIZATION_FAILED" in str(exception) or "authoriz" in str(exception).lower()
    detail = repr(exception)
else:
    detail = "accepted"
case("alice cannot change credentials (no ALTER on the cluster)", refused, detail)
try:
    list(confluent_admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), b"pw")]).values())[0].result(timeout=30)
    refused = False
except Exception:
    refused = True
case("100 iterations are refused (UNACCEPTABLE_CREDENTIAL)", refused)
list(confluent_admin.alter_user_scram_credentials([UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_256)]).values())[0].result(timeout=30)
case("once deleted, dave cannot log in", not can_login("dave", "dave-pw"))
case("alice still logs in", can_login("alice", "alice-pw"))

# A client certificate's subject is the principal.
error = produce(mtls, "tls-orders", ["signed"])
case("the client certificate User:CN=alice,OU=payments,O=Example,C=FR writes tls-orders", error is None, error)
error = produce(mtls, "orders-in", ["x"])
case("the certificate's principal is not User:alice: orders-in is refused to it", authorization_failed(error), error)

admin.close()
print("acl clients: " + ("PASS" if failures == 0 else f"{failures} FAILED"))
sys.exit(1 if failures else 0)
