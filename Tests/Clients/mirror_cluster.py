#!/usr/bin/env python3
"""`stele mirror` with a source, then a target, of two brokers (fake_cluster.py: two proxies
posing as brokers 1 and 2 in front of one `stele serve`, leading even and odd partitions, node 2
the coordinator), as Kafka clusters are:

- offsets kept, from a two-broker source: every fetch and offset lookup goes to the partition's
  leader (both brokers serve some), group offsets are read from the coordinator; the target's
  segments equal the source's byte for byte and the group's offsets arrive;
- offsets translated, into a two-broker target: every Produce goes to the partition's leader,
  InitProducerId, AddPartitionsToTxn, EndTxn and OffsetCommit to the coordinator; the target's
  committed records are the source's.

A request sent to the wrong broker is a failure. Waits are for progress, never for a fixed time.

usage: mirror_cluster.py BIN_DIR
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
from fake_cluster import FakeCluster

BIN = sys.argv[1]

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="stele-mirror-cluster-")
processes = []


def serve(name):
    kafka, http = free_port(), free_port()
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", os.path.join(work, name), "--kafka-port", str(kafka),
                                "--http-port", str(http)], stdout=log, stderr=log)
    processes.append(process)
    progress = Progress(f"{name} to answer /health")
    while True:
        if process.poll() is not None:
            sys.exit(f"FAIL {name} exited with {process.returncode} (see {work}/{name}.log)")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
            return kafka
        except Exception:
            progress.check(0)
            time.sleep(0.05)


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def mirror(name, *arguments):
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "mirror", *arguments], stdout=log, stderr=log)
    processes.append(process)
    return process


def ends(bootstrap, topic, partitions):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ends"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)[1] for p in range(partitions)]
    finally:
        consumer.close()


def committed_values(bootstrap, topic, partitions, count):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
    seen = {p: [] for p in range(partitions)}
    progress = Progress(f"{count} records of {topic} from {bootstrap}")
    while sum(len(v) for v in seen.values()) < count:
        for m in consumer.consume(500, 0.2):
            if m.error() is None:
                seen[m.partition()].append((m.key(), m.value(), m.headers()))
        progress.check(sum(len(v) for v in seen.values()))
    consumer.close()
    return seen


try:
    source_port, target_port = serve("source"), serve("target")
    source, target = f"127.0.0.1:{source_port}", f"127.0.0.1:{target_port}"
    admin = AdminClient({"bootstrap.servers": source})
    for future in admin.create_topics([NewTopic("orders", 4, 1), NewTopic("payments", 4, 1)]).values():
        future.result()
    producer = Producer({"bootstrap.servers": source, "enable.idempotence": True, "linger.ms": 5})
    for i in range(800):
        topic = "orders" if i < 400 else "payments"
        producer.produce(topic, key=f"k{i % 13}".encode(), value=f"{topic} {i}".encode(), partition=i % 4, headers=[("n", str(i).encode())])
    if producer.flush(60) != 0:
        fail("the source did not take every record")
    billing = Consumer({"bootstrap.servers": source, "group.id": "billing", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    billing.assign([TopicPartition("orders", p, 0) for p in range(4)])
    read, progress = 0, Progress("the billing group's records")
    while read < 200:
        read += sum(1 for m in billing.consume(50, 0.5) if m.error() is None)
        progress.check(read)
    billing.commit(asynchronous=False)
    billing_offsets = {tp.partition: tp.offset for tp in billing.committed([TopicPartition("orders", p) for p in range(4)], timeout=30)}
    billing.close()

    # Offsets kept, from a source of two brokers.
    source_cluster = FakeCluster(source_port)
    keeping = mirror("keep", "--source", source_cluster.bootstrap, "--target", target, "--topics", "orders", "--groups", "billing")
    wanted = ends(source, "orders", 4)
    progress = Progress("the kept-offset mirror to catch up")
    while True:
        if keeping.poll() is not None:
            fail(f"stele mirror exited with {keeping.returncode}")
        try:
            have = ends(target, "orders", 4)
        except Exception:
            have = None
        if have == wanted:
            break
        progress.check(have)
        time.sleep(0.05)
    for partition in range(4):
        name = os.path.join("topics", "orders", str(partition), "00000000000000000000.log")
        with open(os.path.join(work, "source", name), "rb") as f, open(os.path.join(work, "target", name), "rb") as g:
            if f.read() != g.read():
                fail(f"orders-{partition}: the target's segment differs from the source's")
    watcher = Consumer({"bootstrap.servers": target, "group.id": "billing", "enable.auto.commit": False})
    progress = Progress("billing's offsets on the target")
    while True:
        have = {tp.partition: tp.offset for tp in watcher.committed([TopicPartition("orders", p) for p in range(4)], timeout=30)}
        if have == billing_offsets:
            break
        progress.check(have)
        time.sleep(0.05)
    watcher.close()
    keeping.send_signal(signal.SIGTERM)
    keeping.wait()
    if source_cluster.violations:
        fail(f"requests to the wrong source broker: {source_cluster.violations[:5]}")
    if min(source_cluster.seen.values()) == 0:
        fail(f"one source broker got no partition request: {source_cluster.seen}")
    print(f"offsets kept from a two-broker source: segments equal byte for byte, billing's offsets copied; "
          f"partition requests per broker {source_cluster.seen}, none to the wrong one")

    # Offsets translated, into a target of two brokers.
    target_cluster = FakeCluster(target_port)
    translating = mirror("translate", "--source", source, "--target", target_cluster.bootstrap, "--offsets", "translate", "--topics", "payments",
                         "--groups", "billing")
    source_payments = committed_values(source, "payments", 4, 400)
    target_payments = committed_values(target, "payments", 4, 400)
    if source_payments != target_payments:
        fail("payments: the target's committed records differ from the source's")
    # A group on payments, so an OffsetCommit goes to the target's coordinator.
    payer = Consumer({"bootstrap.servers": source, "group.id": "billing", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    payer.assign([TopicPartition("payments", p, 0) for p in range(4)])
    read, progress = 0, Progress("the billing group's payments")
    while read < 400:
        read += sum(1 for m in payer.consume(100, 0.5) if m.error() is None)
        progress.check(read)
    payer.commit(asynchronous=False)
    payer.close()
    watcher = Consumer({"bootstrap.servers": target, "group.id": "billing", "enable.auto.commit": False})
    progress = Progress("billing's payments offsets on the target")
    while True:
        have = {tp.partition: tp.offset for tp in watcher.committed([TopicPartition("payments", p) for p in range(4)], timeout=30)}
        if all(offset > 0 for offset in have.values()):
            break
        if translating.poll() is not None:
            fail(f"stele mirror exited with {translating.returncode}")
        progress.check(have)
        time.sleep(0.05)
    watcher.close()
    translating.send_signal(signal.SIGTERM)
    translating.wait()
    if target_cluster.violations:
        fail(f"requests to the wrong target broker: {target_cluster.violations[:5]}")
    if min(target_cluster.seen.values()) == 0:
        fail(f"one target broker got no partition request: {target_cluster.seen}")
    print(f"offsets translated into a two-broker target: the 400 committed records equal, billing's offsets translated to {have}; "
          f"partition requests per broker {target_cluster.seen}, none to the wrong one, transactions and commits at the coordinator")
    for name in ("keep", "translate"):
        with open(os.path.join(work, f"{name}.log")) as f:
            said = f.read()
        if "connecting again" in said:
            fail(f"the {name} mirror lost its connections on the way: {said}")
    print("PASS mirror_cluster")
finally:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
