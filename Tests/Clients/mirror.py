#!/usr/bin/env python3
"""`stele mirror` between two `stele serve` processes, with real clients and a SIGKILL:

- the source holds plain, compressed, keyed, idempotent and transactional records (one
  transaction committed, one aborted) in three partitions, and a topic whose first records were
  deleted (DeleteRecords);
- `stele mirror` copies them; it is SIGKILLed once it has made progress, more records arrive,
  and it is started again; then the target is SIGKILLed under it and started again;
- then each partition's segment file on the target equals the source's byte for byte (same
  offsets, same batches: nothing lost, nothing doubled), read_committed and read_uncommitted
  consumers see the same records at the same offsets on both sides, and the trimmed topic
  starts where the source does;
- a producer is refused on the active mirror topic; a source topic re-created behind the
  target stops the mirror; after `stele mirror promote` a producer writes at the offset after
  the source's last, and the group resumes where it stopped.

Waits are for progress, never for a fixed time.

usage: mirror.py BIN_DIR
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from progress import Progress

BIN = sys.argv[1]

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="stele-mirror-")
processes = []


servers = {}   # name -> (kafka port, http port, process): a restart keeps the ports


def serve(name):
    kafka, http = servers[name][:2] if name in servers else (free_port(), free_port())
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", os.path.join(work, name), "--kafka-port", str(kafka),
                                "--http-port", str(http)], stdout=log, stderr=log)
    processes.append(process)
    servers[name] = (kafka, http, process)
    progress = Progress(f"{name} to answer /health")
    while True:
        if process.poll() is not None:
            sys.exit(f"FAIL {name} exited with {process.returncode} (see {work}/{name}.log)")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
            return f"127.0.0.1:{kafka}"
        except Exception:
            progress.check(0)
            time.sleep(0.05)


def mirror():
    log = open(os.path.join(work, "mirror.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "mirror", "--source", source, "--target", target, "--topics", "orders|trimmed|grown",
                                "--groups", "billing", "--fetch-max-bytes", "2048"],
                               stdout=log, stderr=log)
    processes.append(process)
    return process


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


try:
    source, target = serve("source"), serve("target")
    admin = AdminClient({"bootstrap.servers": source})
    for future in admin.create_topics([NewTopic("orders", 3, 1, config={"max.message.bytes": "2000000", "retention.ms": "-1"}),
                                       NewTopic("trimmed", 1, 1)]).values():
        future.result()

    def produce(count, start, compression="none"):
        producer = Producer({"bootstrap.servers": source, "enable.idempotence": True, "compression.type": compression, "linger.ms": 5})
        for i in range(start, start + count):
            producer.produce("orders", key=f"order-{i % 17}".encode(), value=f"order {i}".encode(), partition=i % 3,
                             headers=[("n", str(i).encode())])
        if producer.flush(60) != 0:
            fail("the source did not take every record")

    produce(300, 0)
    produce(300, 300, "lz4")
    transactional = Producer({"bootstrap.servers": source, "transactional.id": "mirror-test"})
    transactional.init_transactions(30)
    for outcome in ("commit", "abort"):
        transactional.begin_transaction()
        for i in range(10):
            transactional.produce("orders", value=f"{outcome} {i}".encode(), partition=i % 3)
        transactional.flush(30)   # sent before the end: an abort would otherwise drop them unsent
        transactional.commit_transaction(30) if outcome == "commit" else transactional.abort_transaction(30)
    plain = Producer({"bootstrap.servers": source})
    for i in range(50):
        plain.produce("trimmed", value=f"t{i}".encode(), partition=0)
        plain.flush(30)   # one batch per record, so the deletion below falls on a batch boundary
    for future in admin.delete_records([TopicPartition("trimmed", 0, 20)]).values():
        future.result()

    def ends(bootstrap, topic, partitions):
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ends"})
        try:
            return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)]
        finally:
            consumer.close()

    # A consumer group on the source reads part of the topic and commits where it stopped.
    billing = Consumer({"bootstrap.servers": source, "group.id": "billing", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    billing.assign([TopicPartition("orders", p, 0) for p in range(3)])
    per_partition, progress = {0: 0, 1: 0, 2: 0}, Progress("the billing group's records")
    while min(per_partition.values()) < 100:
        for m in billing.consume(50, 0.5):
            if m.error() is None:
                per_partition[m.partition()] += 1
        progress.check(sum(per_partition.values()))
    billing.commit(asynchronous=False)
    billing_offsets = {tp.partition: tp.offset for tp in billing.committed([TopicPartition("orders", p) for p in range(3)], timeout=30)}
    billing.close()
    print(f"billing committed {billing_offsets} on the source")

    # Mirror until some progress, then SIGKILL it mid-way.
    process = mirror()
    progress = Progress("the mirror's first records on the target")
    while True:
        if process.poll() is not None:
            fail(f"stele mirror exited with {process.returncode}")
        try:
            if sum(ends(target, "orders", 3)) > 0:
                break
        except KafkaException:
            pass
        progress.check(0)
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    print(f"mirror SIGKILLed with {ends(target, 'orders', 3)} of {ends(source, 'orders', 3)} copied")
    produce(200, 600, "gzip")

    # Counted before the mirror starts again: a mirror that copies the 200 records at once
    # would otherwise leave nothing to wait for.
    before = sum(ends(target, "orders", 3))
    process = mirror()
    wanted = ends(source, "orders", 3) + ends(source, "trimmed", 1)
    # The target SIGKILLed while the mirror writes to it (or just after), and started again:
    # the mirror reconnects and resumes from what the target kept.
    progress = Progress("the restarted mirror's first records")
    while sum(ends(target, "orders", 3)) == before:
        if process.poll() is not None:
            fail(f"stele mirror exited with {process.returncode}")
        progress.check(0)
        time.sleep(0.01)
    servers["target"][2].send_signal(signal.SIGKILL)
    servers["target"][2].wait()
    serve("target")
    print(f"target SIGKILLed and restarted with {ends(target, 'orders', 3)} copied")
    progress = Progress("the target to catch up with the source")
    while True:
        if process.poll() is not None:
            fail(f"stele mirror exited with {process.returncode}")
        try:
            have = ends(target, "orders", 3) + ends(target, "trimmed", 1)
        except KafkaException:
            have = None
        if have == wanted:
            break
        progress.check(have, shown=f"{have} of {wanted}")
        time.sleep(0.05)
    print(f"caught up: {wanted}")

    # A topic made while the mirror runs is picked up; partitions added at the source follow.
    from confluent_kafka.admin import NewPartitions
    for future in admin.create_topics([NewTopic("grown", 1, 1)]).values():
        future.result()
    target_admin = AdminClient({"bootstrap.servers": target})
    progress = Progress("the new topic on the target")
    while "grown" not in target_admin.list_topics(timeout=30).topics:
        progress.check(0)
        time.sleep(0.05)
    for future in admin.create_partitions([NewPartitions("grown", 3)]).values():
        future.result()
    grower = Producer({"bootstrap.servers": source})
    for i in range(15):
        grower.produce("grown", value=f"g{i}".encode(), partition=i % 3)
    grower.flush(30)
    progress = Progress("the grown topic's three partitions on the target")
    while True:
        try:
            have = ends(target, "grown", 3)
        except Exception:
            have = None
        if have == [5, 5, 5]:
            break
        progress.check(have)
        time.sleep(0.05)
    print("grown: a topic made and grown at the source while mirroring, followed")

    # The group's offsets, copied: the same numbers, since the offsets are the source's.
    watcher = Consumer({"bootstrap.servers": target, "group.id": "billing", "enable.auto.commit": False})
    progress = Progress("billing's offsets on the target")
    while True:
        have = {tp.partition: tp.offset for tp in watcher.committed([TopicPartition("orders", p) for p in range(3)], timeout=30)}
        if have == billing_offsets:
            break
        progress.check(have)
        time.sleep(0.05)
    watcher.close()
    print(f"billing's offsets on the target: {have}")

    # The topic's own configs came along.
    from confluent_kafka.admin import ConfigResource
    target_admin = AdminClient({"bootstrap.servers": target})
    for resource, future in target_admin.describe_configs([ConfigResource("topic", "orders")]).items():
        described = {name: entry.value for name, entry in future.result().items()}
    if described.get("max.message.bytes") != "2000000" or described.get("stele.mirror.source") != source:
        fail(f"the mirror topic's configs: {described}")
    print("orders: the source's topic configs came along (max.message.bytes=2000000)")

    # Config changes at the source are followed: one set, one removed (back to the default).
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    changes = [ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET),
               ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE)]
    for future in admin.incremental_alter_configs([ConfigResource("topic", "orders", incremental_configs=changes)]).values():
        future.result()
    progress = Progress("the source's config changes on the target")
    while True:
        for resource, future in target_admin.describe_configs([ConfigResource("topic", "orders")]).items():
            entries = future.result()
        followed = {name: (entry.value, int(getattr(entry.source, "value", entry.source))) for name, entry in entries.items() if name in ("retention.ms", "max.message.bytes")}
        # source 1: set on the topic itself; anything else is a default.
        if followed["retention.ms"] == ("86400000", 1) and followed["max.message.bytes"][1] != 1:
            break
        progress.check(followed)
        time.sleep(0.1)
    if described.get("stele.mirror.source") != source:
        fail("the mirror source config changed")
    print(f"orders: config changes at the source followed on the target ({followed})")

    # Byte for byte: each partition's segment on the target is the source's.
    for partition in range(3):
        name = "00000000000000000000.log"
        with open(os.path.join(work, "source", "topics", "orders", str(partition), name), "rb") as f:
            source_bytes = f.read()
        with open(os.path.join(work, "target", "topics", "orders", str(partition), name), "rb") as f:
            target_bytes = f.read()
        if source_bytes != target_bytes:
            fail(f"orders-{partition}: the target's segment ({len(target_bytes)} bytes) differs from the source's ({len(source_bytes)} bytes)")
    print("orders: every partition's segment is the source's, byte for byte")

    def records(bootstrap, topic, partitions, isolation, count):
        """The first `count` records (as many as were produced), read from offset 0."""
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{isolation}-{bootstrap}", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False, "isolation.level": isolation})
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        seen = []
        progress = Progress(f"reading {count} records of {topic} from {bootstrap}")
        while len(seen) < count:
            batch = [m for m in consumer.consume(500, 0.5) if m.error() is None]
            seen += [(m.partition(), m.offset(), m.key(), m.value(), m.timestamp(), m.headers()) for m in batch]
            progress.check(len(seen))
        consumer.close()
        return sorted(seen, key=lambda r: (r[0], r[1]))

    # The aborted transaction's 10 records are read only read_uncommitted; trimmed keeps 30 of 50.
    for isolation, counts in (("read_committed", {"orders": 810, "trimmed": 30}), ("read_uncommitted", {"orders": 820, "trimmed": 30})):
        for topic, partitions in (("orders", 3), ("trimmed", 1)):
            mine = records(source, topic, partitions, isolation, counts[topic])
            theirs = records(target, topic, partitions, isolation, counts[topic])
            if mine != theirs:
                fail(f"{topic} {isolation}: the target's records differ from the source's")
            print(f"{topic} {isolation}: the same {len(mine)} records at the same offsets")
    trimmed = records(target, "trimmed", 1, "read_uncommitted", 30)
    if not trimmed or trimmed[0][1] != 20:
        fail(f"the trimmed topic's first record on the target is at {trimmed[0][1] if trimmed else None}, not 20")

    # Read-only until promoted.
    errors = []
    refused = Producer({"bootstrap.servers": target, "message.timeout.ms": 10000})
    refused.produce("orders", value=b"too early", partition=0, on_delivery=lambda err, msg: errors.append(err))
    refused.flush(30)
    if not errors or errors[0] is None or "olicy" not in str(errors[0]):
        fail(f"a producer wrote into an active mirror topic: {errors}")
    print(f"a producer is refused on the mirror topic: {errors[0].str()}")

    # A source that falls behind the target (its topic deleted and made again): the mirror
    # stops with the reason instead of appending the new topic's records after the old ones.
    for future in admin.delete_topics(["trimmed"]).values():
        future.result()
    progress = Progress("the source's trimmed topic to go")
    while "trimmed" in admin.list_topics(timeout=30).topics:
        progress.check(0)
        time.sleep(0.05)
    for future in admin.create_topics([NewTopic("trimmed", 1, 1)]).values():
        future.result()
    plain.produce("trimmed", value=b"new life", partition=0)
    plain.flush(30)
    progress = Progress("the mirror to stop at the re-created topic")
    while process.poll() is None:
        progress.check(0)
        time.sleep(0.05)
    with open(os.path.join(work, "mirror.log")) as f:
        said = f.read()
    if process.returncode == 0 or "re-created" not in said:
        fail(f"the mirror did not stop at the re-created source topic (exit {process.returncode})")
    if ends(target, "trimmed", 1) != [50]:
        fail(f"the target's trimmed topic changed: {ends(target, 'trimmed', 1)}")
    print("a source topic re-created behind the target: the mirror stopped, the target untouched")

    promote = subprocess.run([os.path.join(BIN, "stele"), "mirror", "promote", "--target", target, "--topics", "orders"],
                             capture_output=True, text=True, timeout=120)
    if promote.returncode != 0:
        fail(f"stele mirror promote failed: {promote.stdout}{promote.stderr}")
    delivered = []
    writer = Producer({"bootstrap.servers": target})
    writer.produce("orders", value=b"after failover", partition=0, on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    writer.flush(30)
    if not delivered or delivered[0][0] is not None or delivered[0][1] != wanted[0]:
        fail(f"after promotion the write went {delivered}, expected offset {wanted[0]}")
    print(f"promoted: a producer writes at offset {delivered[0][1]}, after the source's last")
    # The failover drill's last step: the group resumes on the target where it stopped.
    resumed = Consumer({"bootstrap.servers": target, "group.id": "billing", "auto.offset.reset": "latest", "enable.auto.commit": False})
    resumed.subscribe(["orders"])
    first, progress = {}, Progress("billing resuming on the target")
    while len(first) < 3:
        for m in resumed.consume(100, 0.5):
            if m.error() is None:
                first.setdefault(m.partition(), m.offset())
        progress.check(len(first))
    resumed.close()
    if first != billing_offsets:
        fail(f"billing resumed on the target at {first}, not at its committed {billing_offsets}")
    print(f"billing resumes on the target at {first}: nothing skipped, nothing read twice")
    print("PASS mirror")
finally:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
