#!/usr/bin/env python3
"""Consumer groups through the flexible versions current clients prefer, with kafka-python 3
(JoinGroup v7, SyncGroup v5, Heartbeat v4, LeaveGroup v5, OffsetCommit v8, OffsetFetch v8,
FindCoordinator v4, ListGroups v5, DescribeGroups v5, DeleteGroups v2, DeleteTopics v6,
CreateTopics v7) and confluent-kafka (OffsetCommit/OffsetFetch v9, ListOffsets v7,
ConsumerGroupDescribe v0) against `stele serve`:

- two groups consume and commit; one OffsetFetch v8 asks for both groups' offsets at once;
- ListGroups filters by state and by type (classic, consumer), ignoring case;
- a static member (group.instance.id) is removed by its instance id alone, as an administrator
  does (LeaveGroup v5 with a reason), and the group is then Empty;
- a consumer-protocol group is described through ConsumerGroupDescribe with its member's
  assignment, and a classic group through DescribeGroups (the client's fallback);
- offsets altered, reset, listed and deleted by both admin clients; topics described and their
  offsets listed; the controller-quorum and Kafka 4.1 calls Stele lacks refused by the client;
- groups and the topic deleted (DeleteGroups v2, DeleteTopics v6).

usage: group_admin.py BOOTSTRAP
"""
import sys
import uuid

from progress import Progress

bootstrap = sys.argv[1]
suffix = uuid.uuid4().hex[:8]
topic = f"gadmin-{suffix}"
g_static, g_plain, g_848 = f"static-{suffix}", f"plain-{suffix}", f"k848-{suffix}"
COUNT = 40

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import MemberToRemove, NewTopic

admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, 2, 1)])
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
for i in range(COUNT):
    producer.send(topic, key=str(i).encode(), value=str(i).encode(), partition=i % 2)
producer.flush()
print(f"OK   {COUNT} records produced (Produce v9)", flush=True)


def consume_all(group, **extra):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, **extra)
    seen, progress = set(), Progress(f"{group} reading {COUNT} records")
    while len(seen) < COUNT:
        for records in consumer.poll(timeout_ms=500).values():
            seen.update(int(r.value) for r in records)
        progress.check(len(seen))
    consumer.commit()
    return consumer


static = consume_all(g_static, group_instance_id=f"instance-{suffix}")
plain = consume_all(g_plain)
print("OK   two groups consumed and committed (JoinGroup v7, SyncGroup v5, OffsetCommit v8)", flush=True)

both = admin.list_group_offsets({g_static: None, g_plain: None})
for group in (g_static, g_plain):
    offsets = {tp.partition: meta.offset for tp, meta in both[group].items() if tp.topic == topic}
    if offsets != {0: COUNT // 2, 1: COUNT // 2}:
        sys.exit(f"{group}: committed offsets {offsets}, expected 20 and 20")
print("OK   one OffsetFetch v8 answered both groups' offsets", flush=True)


def listed(**filters):
    return {g["group_id"] for g in admin.list_groups(**filters)} & {g_static, g_plain, g_848}


if listed(states_filter=["stable"]) != {g_static, g_plain} or listed(states_filter=["Empty"]):
    sys.exit(f"states_filter: stable {listed(states_filter=['stable'])}, Empty {listed(states_filter=['Empty'])}")

admin.remove_group_members(g_static, [MemberToRemove(group_instance_id=f"instance-{suffix}", reason="decommissioned")])
described = admin.describe_groups([g_static])[g_static]
state, members = described["group_state"], described["members"]
if described["error"] is not None or state != "Empty" or members:
    sys.exit(f"after removing the static member: {state} with {members}")
print("OK   a static member removed by its instance id alone (LeaveGroup v5); the group is Empty", flush=True)
static.close()
plain.close()
if listed(states_filter=["Empty"]) != {g_static, g_plain}:
    sys.exit(f"states_filter=Empty listed {listed(states_filter=['Empty'])} once both groups lost their members")
print("OK   ListGroups v5 filters by state, ignoring case", flush=True)

from confluent_kafka import Consumer, ConsumerGroupState
from confluent_kafka.admin import AdminClient

c = Consumer({"bootstrap.servers": bootstrap, "group.id": g_848, "group.protocol": "consumer", "auto.offset.reset": "earliest",
              "enable.auto.commit": False})
c.subscribe([topic])
seen, progress = 0, Progress("the consumer-protocol member reading")
while seen < COUNT:
    message = c.poll(0.5)
    if message is not None and not message.error():
        seen += 1
    progress.check(seen)
c.commit(asynchronous=False)
confluent = AdminClient({"bootstrap.servers": bootstrap})
if listed(types_filter=["consumer"]) != {g_848} or listed(types_filter=["CLASSIC"]) != {g_static, g_plain}:
    sys.exit(f"types_filter: consumer {listed(types_filter=['consumer'])}, classic {listed(types_filter=['CLASSIC'])}")
print("OK   ListGroups v5 filters by type (classic, consumer)", flush=True)
groups = confluent.describe_consumer_groups([g_848, g_plain])
consumer_group, classic_group = groups[g_848].result(60), groups[g_plain].result(60)
assignment = sorted((tp.topic, tp.partition) for m in consumer_group.members for tp in m.assignment.topic_partitions)
if consumer_group.state != ConsumerGroupState.STABLE or assignment != [(topic, 0), (topic, 1)]:
    sys.exit(f"ConsumerGroupDescribe: {consumer_group.state} with {assignment}")
if classic_group.state != ConsumerGroupState.EMPTY or classic_group.members:
    sys.exit(f"a classic group described as {classic_group.state} with {classic_group.members}")
print("OK   ConsumerGroupDescribe v0 shows the member's assignment; a classic group falls back to DescribeGroups", flush=True)
c.close()

# The offset administration both admin clients expose, on the now empty classic group.
from kafka.admin import OffsetSpec
from kafka.structs import OffsetAndMetadata
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition as CTopicPartition

altered = admin.alter_group_offsets(g_plain, {TopicPartition(topic, 0): OffsetAndMetadata(7, "", -1)})
reset = admin.reset_group_offsets(g_plain, {TopicPartition(topic, 1): OffsetSpec.EARLIEST})
committed = {tp.partition: meta.offset for tp, meta in admin.list_group_offsets({g_plain: None})[g_plain].items()}
if committed != {0: 7, 1: 0} or any(e.__name__ != "NoError" for e in altered.values()):
    sys.exit(f"kafka-python alter_group_offsets/reset_group_offsets: {altered} {reset} → {committed}")
confluent.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g_plain, [CTopicPartition(topic, 1, 11)])])[g_plain].result(60)
listed_offsets = confluent.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g_plain)])[g_plain].result(60)
if sorted((tp.partition, tp.offset) for tp in listed_offsets.topic_partitions) != [(0, 7), (1, 11)]:
    sys.exit(f"confluent-kafka alter/list_consumer_group_offsets: {listed_offsets.topic_partitions}")
removed = admin.delete_group_offsets(g_plain, [TopicPartition(topic, 0)])
if {tp.partition: e.__name__ for tp, e in removed.items()} != {0: "NoError"} or \
        {tp.partition for tp in admin.list_group_offsets({g_plain: None})[g_plain]} != {1}:
    sys.exit(f"delete_group_offsets: {removed}")
print("OK   offsets altered, reset, listed and deleted by both admin clients (OffsetCommit, OffsetFetch, OffsetDelete)", flush=True)

described_topics = admin.describe_topics([topic])
latest = admin.list_partition_offsets({TopicPartition(topic, 0): OffsetSpec.LATEST, TopicPartition(topic, 1): OffsetSpec.EARLIEST_LOCAL})
if [t["name"] for t in described_topics] != [topic] or len(described_topics[0]["partitions"]) != 2 or \
        {tp.partition: o.offset for tp, o in latest.items()} != {0: COUNT // 2, 1: 0}:
    sys.exit(f"describe_topics / list_partition_offsets: {described_topics} {latest}")
print("OK   describe_topics and list_partition_offsets (latest, earliest-local; ListOffsets v8)", flush=True)

# APIs of a KRaft controller quorum and of Kafka 4.1 that a single Stele node does not have:
# refused before anything is sent, as by a Kafka cluster without them.
from kafka.errors import IncompatibleBrokerVersion
for name, call in [("describe_metadata_quorum", admin.describe_metadata_quorum), ("list_config_resources", admin.list_config_resources),
                   ("update_features", lambda: admin.update_features({}))]:
    try:
        call()
        sys.exit(f"{name} was answered")
    except IncompatibleBrokerVersion:
        pass
print("OK   describe_metadata_quorum, list_config_resources, update_features: not advertised, refused by the client", flush=True)

deleted = dict(admin.delete_groups([g_plain, g_static]))
if deleted != {g_plain: "OK", g_static: "OK"}:
    sys.exit(f"DeleteGroups v2: {deleted}")
admin.delete_topics([topic])
if topic in admin.list_topics():
    sys.exit("the topic is still listed after DeleteTopics v6")
print("OK   DeleteGroups v2 and DeleteTopics v6", flush=True)
