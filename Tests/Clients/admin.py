#!/usr/bin/env python3
"""The admin calls of confluent-kafka's AdminClient and kafka-python's KafkaAdminClient against
`stele serve`: configs (describe, alter, incremental alter, reset), partitions, log dirs, each
answered correctly or with the error Kafka gives; a changed config takes effect at once.

    admin.py BOOTSTRAP

Every case prints one line; the first failure does not stop the others; exit 1 if any failed.
"""
import sys
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, KafkaError, TopicPartition
from confluent_kafka import ElectionType
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewPartitions,
                                   NewTopic, ResourceType)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as PyConfigResource, ConfigResourceType as PyResourceType
from kafka.errors import KafkaError as PyKafkaError

bootstrap = sys.argv[1]
failures = 0


def case(name, ok, detail=""):
    global failures
    print(("OK   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures += 1


def error_of(future):
    """The Kafka error a future ends with, or None."""
    try:
        future.result()
        return None
    except KafkaException as e:
        return e.args[0]


admin = AdminClient({"bootstrap.servers": bootstrap})
suffix = uuid.uuid4().hex[:8]
configs_topic, grow_topic, full_topic = f"cfg-{suffix}", f"grow-{suffix}", f"full-{suffix}"
for future in admin.create_topics([NewTopic(configs_topic, 2), NewTopic(grow_topic, 1), NewTopic(full_topic, 1)]).values():
    future.result()


def describe(name):
    resource = ConfigResource(ResourceType.TOPIC, name)
    return admin.describe_configs([resource])[resource].result()


# DescribeConfigs: every config Stele honours, defaults marked as such.
entries = describe(configs_topic)
case("describe_configs lists the topic configs",
     {"cleanup.policy", "retention.ms", "segment.bytes", "max.message.bytes"} <= set(entries), sorted(entries))
retention = entries.get("retention.ms")
case("retention.ms defaults to -1 (kept forever)", retention is not None and retention.value == "-1" and retention.is_default
     and retention.source == ConfigSource.DEFAULT_CONFIG.value, retention and (retention.value, retention.source))
case("a default names its broker synonym", retention is not None and [s.name for s in retention.synonyms.values()] == ["log.retention.ms"],
     retention and list(retention.synonyms))

# AlterConfigs (legacy): replaces the overrides.
resource = ConfigResource(ResourceType.TOPIC, configs_topic, set_config={"retention.ms": "3600000", "segment.bytes": "1048576"})
error = error_of(admin.alter_configs([resource])[resource])
entries = describe(configs_topic)
case("alter_configs sets overrides", error is None and entries["retention.ms"].value == "3600000"
     and entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entries["segment.bytes"].value == "1048576",
     error or (entries["retention.ms"].value, entries["retention.ms"].source))
resource = ConfigResource(ResourceType.TOPIC, configs_topic, set_config={"segment.bytes": "2097152"})
admin.alter_configs([resource])[resource].result()
entries = describe(configs_topic)
case("alter_configs replaces every override (retention.ms back to default)",
     entries["retention.ms"].value == "-1" and entries["segment.bytes"].value == "2097152", entries["retention.ms"].value)

# IncrementalAlterConfigs: SET, DELETE, APPEND.
resource = ConfigResource(ResourceType.TOPIC, configs_topic, incremental_configs=[
    ConfigEntry("retention.bytes", "1000000", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("segment.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
error = error_of(admin.incremental_alter_configs([resource])[resource])
entries = describe(configs_topic)
case("incremental_alter_configs SET, DELETE and APPEND", error is None and entries["retention.bytes"].value == "1000000"
     and entries["segment.bytes"].is_default and entries["cleanup.policy"].value == "compact,delete",
     error or (entries["retention.bytes"].value, entries["segment.bytes"].value, entries["cleanup.policy"].value))


def refused(name, resource, code, incremental=True):
    futures = admin.incremental_alter_configs([resource]) if incremental else admin.alter_configs([resource])
    error = error_of(futures[resource])
    case(name, error is not None and error.code() == code, error)


refused("SUBTRACT compact is refused: a compacted log has gaps",
        ConfigResource(ResourceType.TOPIC, configs_topic, incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SUBTRACT)]), KafkaError.INVALID_CONFIG)
refused("APPEND to a config that is not a list is INVALID_CONFIG",
        ConfigResource(ResourceType.TOPIC, configs_topic, incremental_configs=[
            ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)]), KafkaError.INVALID_CONFIG)
refused("an unknown config is INVALID_CONFIG",
        ConfigResource(ResourceType.TOPIC, configs_topic, incremental_configs=[
            ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)]), KafkaError.INVALID_CONFIG)
refused("an out-of-range value is INVALID_CONFIG",
        ConfigResource(ResourceType.TOPIC, configs_topic, incremental_configs=[
            ConfigEntry("segment.bytes", "99999999999", incremental_operation=AlterConfigOpType.SET)]), KafkaError.INVALID_CONFIG)
refused("an unknown topic is UNKNOWN_TOPIC_OR_PART",
        ConfigResource(ResourceType.TOPIC, f"absent-{suffix}", incremental_configs=[
            ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)]), KafkaError.UNKNOWN_TOPIC_OR_PART)
refused("a broker config is read-only (INVALID_REQUEST)",
        ConfigResource(ResourceType.BROKER, "0", incremental_configs=[
            ConfigEntry("num.partitions", "3", incremental_operation=AlterConfigOpType.SET)]), KafkaError.INVALID_REQUEST)
entries = describe(configs_topic)
case("a refused change changes nothing", entries["cleanup.policy"].value == "compact,delete" and entries["retention.ms"].value == "-1"
     and entries["segment.bytes"].is_default, (entries["cleanup.policy"].value, entries["retention.ms"].value))

# The broker's configs: described, read-only.
broker = ConfigResource(ResourceType.BROKER, "0")
entries = admin.describe_configs([broker])[broker].result()
case("describe_configs of broker 0", entries.get("num.partitions") is not None and entries["num.partitions"].is_read_only
     and entries["log.retention.ms"].value == "-1", sorted(entries))

# A change takes effect at once: max.message.bytes refuses a larger batch without a restart
# (keyed: the topic is compacted now, and a compacted topic refuses records without a key).
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 1000000})
results = []
producer.produce(configs_topic, b"x" * 20000, key=b"k", partition=0, on_delivery=lambda err, msg: results.append(err))
producer.flush(60)
resource = ConfigResource(ResourceType.TOPIC, configs_topic, incremental_configs=[
    ConfigEntry("max.message.bytes", "10000", incremental_operation=AlterConfigOpType.SET)])
admin.incremental_alter_configs([resource])[resource].result()
producer.produce(configs_topic, b"x" * 20000, key=b"k", partition=0, on_delivery=lambda err, msg: results.append(err))
producer.flush(60)
case("max.message.bytes takes effect without a restart", len(results) == 2 and results[0] is None
     and results[1] is not None and results[1].code() == KafkaError.MSG_SIZE_TOO_LARGE, results)

# CreatePartitions: an empty topic grows; one holding records is refused; fewer is refused.
error = error_of(admin.create_partitions([NewPartitions(grow_topic, 4)])[grow_topic])
metadata = admin.list_topics(grow_topic, timeout=30).topics[grow_topic]
case("create_partitions grows an empty topic to 4", error is None and len(metadata.partitions) == 4, error or len(metadata.partitions))
delivered = []
producer.produce(grow_topic, b"to-the-new-partition", partition=3, on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
producer.flush(60)
case("a new partition takes records", delivered == [(None, 0)], delivered)
error = error_of(admin.create_partitions([NewPartitions(grow_topic, 2)])[grow_topic])
case("fewer partitions is INVALID_PARTITIONS", error is not None and error.code() == KafkaError.INVALID_PARTITIONS, error)
error = error_of(admin.create_partitions([NewPartitions(grow_topic, 6)])[grow_topic])
case("a topic holding records is refused (POLICY_VIOLATION: keys would move)",
     error is not None and error.code() == KafkaError.POLICY_VIOLATION, error)
error = error_of(admin.create_partitions([NewPartitions(full_topic, 3)], validate_only=True)[full_topic])
metadata = admin.list_topics(full_topic, timeout=30).topics[full_topic]
case("validate_only changes nothing", error is None and len(metadata.partitions) == 1, error or len(metadata.partitions))

# DeleteRecords: the log start moves; a consumer from the beginning starts there.
deletion_topic = f"del-{suffix}"
admin.create_topics([NewTopic(deletion_topic, 1)])[deletion_topic].result()
for index in range(10):
    producer.produce(deletion_topic, f"r{index}".encode(), key=b"k", partition=0)
producer.flush(60)
deleted = admin.delete_records([TopicPartition(deletion_topic, 0, 4)])
result = list(deleted.values())[0].result()
case("delete_records moves the low watermark to 4", result.low_watermark == 4, result.low_watermark)
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{suffix}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
low, high = consumer.get_watermark_offsets(TopicPartition(deletion_topic, 0), timeout=30)
case("the watermarks are 4 and 10", (low, high) == (4, 10), (low, high))
consumer.assign([TopicPartition(deletion_topic, 0, -2)])
first = None
while first is None:
    message = consumer.poll(30)
    if message is None or message.error():
        break
    first = (message.offset(), message.value())
consumer.close()
case("a consumer from the beginning starts at offset 4", first == (4, b"r4"), first)
error = error_of(list(admin.delete_records([TopicPartition(deletion_topic, 0, 11)]).values())[0])
case("beyond the high watermark is OFFSET_OUT_OF_RANGE", error is not None and error.code() == KafkaError.OFFSET_OUT_OF_RANGE, error)
compacted = f"compacted-{suffix}"
admin.create_topics([NewTopic(compacted, 1, config={"cleanup.policy": "compact"})])[compacted].result()
producer.produce(compacted, b"v", key=b"k", partition=0)
producer.flush(60)
error = error_of(list(admin.delete_records([TopicPartition(compacted, 0, 1)]).values())[0])
case("a compacted topic's records are not deleted (POLICY_VIOLATION)", error is not None and error.code() == KafkaError.POLICY_VIOLATION, error)

error = None
try:
    admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(grow_topic, 0)]).result()
except KafkaException as e:
    error = e.args[0]
results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(grow_topic, 0)])
try:
    outcome = results.result()
    codes = [v.code() if v is not None else 0 for v in outcome.values()]
except KafkaException as e:
    codes = [e.args[0].code()]
case("confluent elect_leaders: ELECTION_NOT_NEEDED", codes == [KafkaError.ELECTION_NOT_NEEDED], codes)

# kafka-python's admin client: its own versions of the same calls, and DescribeLogDirs.
py = KafkaAdminClient(bootstrap_servers=bootstrap)
try:
    described = py.describe_configs([PyConfigResource(PyResourceType.TOPIC, configs_topic)], config_filter='all')
    text = repr(described)
    case("kafka-python describe_configs", "max.message.bytes" in text and "10000" in text, text[:300])
    py.alter_configs([PyConfigResource(PyResourceType.TOPIC, configs_topic, configs={"retention.ms": "7200000"})])
    entries = describe(configs_topic)
    case("kafka-python alter_configs", entries["retention.ms"].value == "7200000", entries["retention.ms"].value)
    py.reset_configs([PyConfigResource(PyResourceType.TOPIC, configs_topic, configs={"retention.ms": None})])
    entries = describe(configs_topic)
    case("kafka-python reset_configs", entries["retention.ms"].is_default, entries["retention.ms"].value)
    py.create_partitions({full_topic: 2}, validate_only=True)
    case("kafka-python create_partitions (validate only)", True)
    from kafka import TopicPartition as PyTopicPartition
    lows = py.delete_records({PyTopicPartition(deletion_topic, 0): -1})
    case("kafka-python delete_records to the high watermark", "10" in repr(lows), repr(lows))
    # Leadership and replicas on one node: nothing to elect, nothing to move.
    elected = py.elect_leaders(0, {grow_topic: [0, 1]}, raise_errors=False)
    codes = [r.error_code for t in elected.replica_election_results for r in t.partition_result]
    case("kafka-python elect_leaders: ELECTION_NOT_NEEDED", codes == [84, 84], repr(elected)[:300])
    case("kafka-python list_partition_reassignments: none", py.list_partition_reassignments() == {})
    kept = py.alter_partition_reassignments({PyTopicPartition(grow_topic, 0): [0]})
    moved = py.alter_partition_reassignments({PyTopicPartition(grow_topic, 0): [5]})
    case("kafka-python alter_partition_reassignments: stays on node 0, no node 5",
         list(kept.values()) == [None] and "InvalidReplicationAssignment" in repr(moved), (kept, moved))
    log_dir = py.describe_log_dirs()[0]
    text = repr(log_dir)
    moves = py.alter_replica_log_dirs({(grow_topic, 0, 0): "/elsewhere"})
    case("kafka-python alter_replica_log_dirs: another path is LOG_DIR_NOT_FOUND", "LogDirNotFound" in repr(moves), repr(moves))
    idempotent = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    idempotent.produce(configs_topic, b"idempotent", key=b"k", partition=0)
    idempotent.flush(60)
    producers = py.describe_producers([PyTopicPartition(configs_topic, 0)])
    case("kafka-python describe_producers lists the idempotent producer", "producer_id=" in repr(producers), repr(producers)[:300])
    # DescribeTopicPartitions (KIP-966): paged by a cursor.
    first = py.describe_topic_partitions([grow_topic, configs_topic], response_partition_limit=3)
    cursor = first["next_cursor"]
    second = py.describe_topic_partitions([grow_topic, configs_topic], response_partition_limit=3, cursor=cursor)
    pages = [(t["name"], [p["partition_index"] for p in t["partitions"]]) for page in (first, second) for t in page["topics"]]
    case("kafka-python describe_topic_partitions pages with its cursor",
         pages == [(configs_topic, [0, 1]), (grow_topic, [0]), (grow_topic, [1, 2, 3])] and second["next_cursor"] is None, (pages, cursor))
    dirs = py.describe_log_dirs()
    text = repr(dirs)
    case("kafka-python describe_log_dirs names the topics with sizes", configs_topic in text and grow_topic in text, text[:300])
except PyKafkaError as e:
    case("kafka-python admin calls", False, repr(e))

print("admin: %d failure(s)" % failures)
sys.exit(1 if failures else 0)
