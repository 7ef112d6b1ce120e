#!/usr/bin/env python3
"""Kafka transactions with unchanged clients against `stele serve`:

- confluent-kafka (librdkafka: FindCoordinator v2, InitProducerId v4, AddPartitionsToTxn v0,
  AddOffsetsToTxn v0, TxnOffsetCommit v3, EndTxn v1), kafka-python 3 (v3 of each) and aiokafka
  (v0 of each) each commit a transaction over two partitions, abort one, commit another;
  read_committed consumers of confluent-kafka and kafka-python see exactly the committed
  records, in order; read_uncommitted sees all of them;
- a transaction left open holds read_committed consumers back at its first offset (the last
  stable offset), and they see its records the moment it commits; kafka-python's admin lists
  and describes it (ListTransactions, DescribeTransactions);
- two producers with one transactional id: the second fences the first, whose commit fails;
- a transaction abandoned by its producer is aborted by the coordinator once its timeout passes
  (the last stable offset moves on; its records are never read committed);
- consume-transform-produce with confluent-kafka: the consumed offsets go into the transaction
  (send_offsets_to_transaction); an aborted round leaves neither output nor offsets; at the end
  every input record is in the output exactly once and the group's offset is at the end.

usage: transactions.py BOOTSTRAP
"""
import asyncio
import sys
import time
import uuid

from progress import Progress

bootstrap = sys.argv[1]
suffix = uuid.uuid4().hex[:8]

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

admin = AdminClient({"bootstrap.servers": bootstrap})


def create(topic, partitions):
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result()


def fail(message):
    print(f"FAIL {message}", flush=True)
    sys.exit(1)


def read_all(topic, isolation, expected, partitions=2):
    """Every record of topic, read by a confluent-kafka consumer with this isolation level,
    until `expected` are there (the wait fails only if nothing arrives for the stall interval);
    then a little more reading to catch anything that should not be there."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": isolation})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen, progress = [], Progress(f"{isolation} reading {expected} records of {topic}")
    while len(seen) < expected:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen.append(message.value().decode())
        progress.check(len(seen))
    # Anything past the expected count is a record that should not be visible.
    deadline_polls = 6
    while deadline_polls:
        message = consumer.poll(0.5)
        if message is None:
            deadline_polls -= 1
        elif message.error() is None:
            seen.append(message.value().decode())
    consumer.close()
    return seen


def read_kafka_python(topic, expected):
    from kafka import KafkaConsumer, TopicPartition as KTP
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", auto_offset_reset="earliest",
                             enable_auto_commit=False)
    consumer.assign([KTP(topic, 0), KTP(topic, 1)])
    consumer.seek_to_beginning()
    seen, progress = [], Progress(f"kafka-python read_committed reading {expected} records of {topic}")
    quiet = 0
    while len(seen) < expected or quiet < 4:
        batch = consumer.poll(timeout_ms=500)
        got = [r.value.decode() for records in batch.values() for r in records]
        seen += got
        quiet = quiet + 1 if not got and len(seen) >= expected else 0
        progress.check(len(seen))
    consumer.close()
    return seen


def values(client, name, count):
    return [f"{client}-{name}-{i}" for i in range(count)]


def check_committed(topic, client, committed, aborted):
    total = sum(len(v) for v in committed) + len(aborted)
    uncommitted = read_all(topic, "read_uncommitted", total)
    if sorted(uncommitted) != sorted(sum(committed, []) + aborted):
        fail(f"{client}: read_uncommitted saw {len(uncommitted)} records, expected {total}")
    for reader, seen in (("confluent-kafka", read_all(topic, "read_committed", sum(len(v) for v in committed))),
                         ("kafka-python", read_kafka_python(topic, sum(len(v) for v in committed)))):
        if any(v in aborted for v in seen):
            fail(f"{client}: {reader} read_committed saw an aborted record")
        if sorted(seen) != sorted(sum(committed, [])):
            fail(f"{client}: {reader} read_committed saw {len(seen)} records, expected {sum(len(v) for v in committed)}")
        # Order within each partition: records of a transaction keep their order.
        for batch in committed:
            positions = [seen.index(v) for v in batch]
            for p in (0, 1):
                part = [pos for i, pos in enumerate(positions) if i % 2 == p]
                if part != sorted(part):
                    fail(f"{client}: {reader} read a partition out of order")
    print(f"OK   {client}: {sum(len(v) for v in committed)} committed records read committed by confluent-kafka and kafka-python, "
          f"{len(aborted)} aborted never; read_uncommitted sees all {total}", flush=True)


# 1. confluent-kafka: commit, abort, commit.
topic = f"txn-ck-{suffix}"
create(topic, 2)
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"ck-{suffix}", "linger.ms": 5})
producer.init_transactions(30)
batches = {}
for name, commit in (("a", True), ("b", False), ("c", True)):
    producer.begin_transaction()
    batches[name] = values("ck", name, 100)
    for i, value in enumerate(batches[name]):
        producer.produce(topic, value=value.encode(), partition=i % 2)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.flush(30)
        producer.abort_transaction(30)
check_committed(topic, "confluent-kafka", [batches["a"], batches["c"]], batches["b"])

# 2. kafka-python.
from kafka import KafkaProducer

topic = f"txn-kp-{suffix}"
create(topic, 2)
producer_kp = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"kp-{suffix}")
producer_kp.init_transactions()
for name, commit in (("a", True), ("b", False), ("c", True)):
    producer_kp.begin_transaction()
    batches[name] = values("kp", name, 100)
    for i, value in enumerate(batches[name]):
        producer_kp.send(topic, value=value.encode(), partition=i % 2)
    if commit:
        producer_kp.commit_transaction()
    else:
        producer_kp.flush()
        producer_kp.abort_transaction()
producer_kp.close()
check_committed(topic, "kafka-python", [batches["a"], batches["c"]], batches["b"])

# 3. aiokafka.
topic = f"txn-aio-{suffix}"
create(topic, 2)


async def aiokafka_transactions():
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"aio-{suffix}")
    await producer.start()
    try:
        for name, commit in (("a", True), ("b", False), ("c", True)):
            await producer.begin_transaction()
            batches[name] = values("aio", name, 100)
            for i, value in enumerate(batches[name]):
                await producer.send(topic, value=value.encode(), partition=i % 2)
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()

asyncio.run(aiokafka_transactions())
check_committed(topic, "aiokafka", [batches["a"], batches["c"]], batches["b"])

# 4. An open transaction holds read_committed back; its commit releases it.
topic = f"txn-open-{suffix}"
create(topic, 1)
plain = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
for i in range(10):
    plain.produce(topic, value=f"before-{i}".encode(), partition=0)
plain.flush(30)
open_producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"open-{suffix}"})
open_producer.init_transactions(30)
open_producer.begin_transaction()
for i in range(10):
    open_producer.produce(topic, value=f"open-{i}".encode(), partition=0)
open_producer.flush(30)
for i in range(10):
    plain.produce(topic, value=f"after-{i}".encode(), partition=0)
plain.flush(30)
seen = read_all(topic, "read_committed", 10, partitions=1)
if seen != [f"before-{i}" for i in range(10)]:
    fail(f"read_committed during an open transaction saw {seen[:12]}…, expected only the 10 records before it")
low, high = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{suffix}", "isolation.level": "read_committed"}) \
    .get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
print(f"OK   an open transaction holds read_committed at its first offset (10 of 30 records visible; high watermark {high})", flush=True)
# The administrator's view (ListTransactions v1, DescribeTransactions v0 through kafka-python).
from kafka import KafkaAdminClient
kadmin = KafkaAdminClient(bootstrap_servers=bootstrap)
listed = [t for listings in kadmin.list_transactions(state_filters=["Ongoing"]).values() for t in listings]
if f"open-{suffix}" not in [t.transactional_id for t in listed]:
    fail(f"ListTransactions(Ongoing) does not list open-{suffix}: {listed}")
if any(kadmin.list_transactions(duration_filter_ms=3_600_000).values()):
    fail("ListTransactions lists a transaction running for an hour")
described = kadmin.describe_transactions([f"open-{suffix}"])[f"open-{suffix}"]
if str(described.state.value) != "Ongoing" or {(tp.topic, tp.partition) for tp in described.topic_partitions} != {(topic, 0)}:
    fail(f"DescribeTransactions: {described}")
print(f"OK   kafka-python's admin lists the open transaction and describes it (Ongoing, {topic}-0, epoch {described.producer_epoch})", flush=True)
open_producer.commit_transaction(30)
# EndTxn answers once the decision is durable (PrepareCommit); the markers follow (as in Kafka).
progress = Progress("the committed transaction to complete")
while True:
    described = kadmin.describe_transactions([f"open-{suffix}"])[f"open-{suffix}"]
    if str(described.state.value) == "CompleteCommit":
        break
    if str(described.state.value) != "PrepareCommit":
        fail(f"DescribeTransactions after the commit: {described}")
    progress.check(str(described.state.value))
    time.sleep(0.01)
if described.topic_partitions:
    fail(f"DescribeTransactions after the commit still lists partitions: {described}")
try:
    kadmin.describe_transactions([f"never-{suffix}"])
    fail("DescribeTransactions of an unknown id succeeded")
except Exception as error:
    if "TransactionalIdNotFound" not in type(error).__name__:
        fail(f"DescribeTransactions of an unknown id failed with {type(error).__name__}, not TransactionalIdNotFound")
kadmin.close()
seen = read_all(topic, "read_committed", 30, partitions=1)
if seen != [f"before-{i}" for i in range(10)] + [f"open-{i}" for i in range(10)] + [f"after-{i}" for i in range(10)]:
    fail(f"after the commit read_committed saw {len(seen)} records in another order")
print("OK   its commit releases all 30 records in offset order", flush=True)

# 5. Fencing: a second producer with the same transactional id.
topic = f"txn-fence-{suffix}"
create(topic, 1)
first = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"fence-{suffix}"})
first.init_transactions(30)
first.begin_transaction()
first.produce(topic, value=b"zombie", partition=0)
first.flush(30)
second = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"fence-{suffix}"})
second.init_transactions(30)
second.begin_transaction()
second.produce(topic, value=b"successor", partition=0)
second.commit_transaction(30)
try:
    first.produce(topic, value=b"zombie-2", partition=0)
    first.commit_transaction(30)
    fail("the fenced producer committed")
except KafkaException as error:
    if not error.args[0].fatal() and "fenced" not in str(error).lower():
        fail(f"the fenced producer failed with {error}, not a fatal fencing error")
seen = read_all(topic, "read_committed", 1, partitions=1)
if seen != ["successor"]:
    fail(f"after fencing read_committed saw {seen}")
print("OK   a second producer with the same transactional id fences the first: its commit fails fatally, its records are aborted", flush=True)

# 6. An abandoned transaction is aborted when its timeout passes.
topic = f"txn-timeout-{suffix}"
create(topic, 1)
abandoned = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"abandon-{suffix}", "transaction.timeout.ms": 2000})
abandoned.init_transactions(30)
abandoned.begin_transaction()
for i in range(5):
    abandoned.produce(topic, value=f"abandoned-{i}".encode(), partition=0)
abandoned.flush(30)
plain.produce(topic, value=b"later", partition=0)
plain.flush(30)
seen = read_all(topic, "read_committed", 1, partitions=1)
if seen != ["later"]:
    fail(f"after the timeout read_committed saw {seen}")
print("OK   a transaction abandoned past transaction.timeout.ms is aborted by the coordinator; read_committed moves past it", flush=True)

# 7. Consume-transform-produce, exactly once.
source, sink, group = f"txn-in-{suffix}", f"txn-out-{suffix}", f"ctp-{suffix}"
create(source, 2)
create(sink, 2)
COUNT = 600
for i in range(COUNT):
    plain.produce(source, key=str(i).encode(), value=str(i).encode(), partition=i % 2)
plain.flush(30)
worker = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                   "enable.auto.commit": False, "isolation.level": "read_committed"})
worker.subscribe([source])
transformer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"ctp-{suffix}"})
transformer.init_transactions(30)
done, rounds, aborted_rounds, progress = 0, 0, 0, Progress("consume-transform-produce")
while done < COUNT:
    messages = [m for m in worker.consume(50, 1.0) if m.error() is None]
    if not messages:
        progress.check(done)
        continue
    transformer.begin_transaction()
    for m in messages:
        transformer.produce(sink, key=m.key(), value=f"t{m.value().decode()}".encode(), partition=m.partition())
    positions = {}
    for m in messages:
        positions[(m.topic(), m.partition())] = m.offset() + 1
    transformer.send_offsets_to_transaction([TopicPartition(t, p, o) for (t, p), o in positions.items()],
                                            worker.consumer_group_metadata(), 30)
    rounds += 1
    if rounds % 4 == 0:
        # A failed round: abort, and rewind to the committed offsets (what a restart would do).
        transformer.abort_transaction(30)
        aborted_rounds += 1
        committed = worker.committed([TopicPartition(source, p) for p in (0, 1)], 30)
        for tp in committed:
            worker.seek(TopicPartition(source, tp.partition, tp.offset if tp.offset >= 0 else 0))
        continue
    transformer.commit_transaction(30)
    done += len(messages)
    progress.check(done)
worker.close()
out = read_all(sink, "read_committed", COUNT)
if sorted(out) != sorted(f"t{i}" for i in range(COUNT)):
    dupes = len(out) - len(set(out))
    fail(f"consume-transform-produce: {len(out)} output records ({dupes} duplicates), expected {COUNT} exactly once")
final = Consumer({"bootstrap.servers": bootstrap, "group.id": group}).committed([TopicPartition(source, p) for p in (0, 1)], 30)
if sum(tp.offset for tp in final) != COUNT:
    fail(f"consume-transform-produce: the group's committed offsets are {[tp.offset for tp in final]}, expected the end")
print(f"OK   consume-transform-produce: {COUNT} records transformed exactly once over {rounds} rounds ({aborted_rounds} aborted and "
      "redone); the group's offsets committed with the output", flush=True)
print("transactions: PASS", flush=True)
