#!/usr/bin/env python3
"""`stele mirror --offsets translate` between two `stele serve` processes, the target standing
in for any Kafka-protocol cluster (ordinary topics, offsets of its own), under SIGKILLs:

- the source holds keyed, compressed, idempotent records with headers, committed and aborted
  transactions, and a topic whose first records were deleted (DeleteRecords);
- producers keep writing (plain and transactional, some transactions aborted) while the mirror
  is SIGKILLed again and again at random moments, and once while the target is SIGKILLed;
- then, per partition, the target's read_committed records are the source's read_committed
  records — same keys, values, headers and timestamps, in the same order — nothing lost,
  nothing doubled, nothing aborted;
- a source group's committed offsets arrive translated: a consumer of the group on the target
  resumes at or before the first record it had not read at the source (never after it);
- a target topic holding records the mirror did not copy is left alone; the target topics are
  ordinary (a producer writes to them once the mirror is stopped).

Waits are for progress, never for a fixed time.

usage: mirror_translate.py BIN_DIR
"""
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from progress import Progress

BIN = sys.argv[1]

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="stele-mirror-translate-")
processes = []
servers = {}


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


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def mirror():
    log = open(os.path.join(work, "mirror.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "mirror", "--source", source, "--target", target, "--offsets", "translate",
                                "--topics", "orders|trimmed|foreign|late", "--groups", "billing", "--fetch-max-bytes", "4096"],
                               stdout=log, stderr=log)
    processes.append(process)
    return process


def committed_records(bootstrap, topic, partitions):
    """Every read_committed record of the topic: {partition: [(offset, key, value, timestamp, headers)]}."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{random.random()}", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)[1] for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])
        seen = {p: [] for p in range(partitions)}
        done = {p: ends[p] == 0 for p in range(partitions)}
        progress = Progress(f"reading {topic} from {bootstrap}")
        while not all(done.values()):
            for m in consumer.consume(500, 0.2):
                if m.error() is None:
                    seen[m.partition()].append((m.offset(), m.key(), m.value(), m.timestamp()[1], m.headers()))
            for p in range(partitions):
                if not done[p]:
                    position = consumer.position([TopicPartition(topic, p)])[0].offset
                    # read_committed: the position passes markers and aborted records too.
                    done[p] = position >= ends[p]
            progress.check(sum(len(v) for v in seen.values()))
        return seen
    finally:
        consumer.close()


try:
    source, target = serve("source"), serve("target")
    admin = AdminClient({"bootstrap.servers": source})
    target_admin = AdminClient({"bootstrap.servers": target})
    for future in admin.create_topics([NewTopic("orders", 3, 1), NewTopic("trimmed", 1, 1), NewTopic("foreign", 1, 1)]).values():
        future.result()
    # A target topic of the same name that someone else writes: never the mirror's.
    for future in target_admin.create_topics([NewTopic("foreign", 1, 1)]).values():
        future.result()
    local = Producer({"bootstrap.servers": target})
    local.produce("foreign", value=b"the target's own", partition=0)
    local.flush(30)
    remote = Producer({"bootstrap.servers": source})
    remote.produce("foreign", value=b"the source's", partition=0)
    remote.flush(30)

    stop = threading.Event()
    produced = {"plain": 0, "committed": 0, "aborted": 0}

    def produce_plain(count, compression):
        producer = Producer({"bootstrap.servers": source, "enable.idempotence": True, "compression.type": compression, "linger.ms": 5})
        start = produced["plain"]
        for i in range(start, start + count):
            producer.produce("orders", key=f"order-{i % 17}".encode(), value=f"order {i}".encode(), partition=i % 3,
                             headers=[("n", str(i).encode())])
        if producer.flush(60) != 0:
            fail("the source did not take every record")
        produced["plain"] += count

    transactional = Producer({"bootstrap.servers": source, "transactional.id": "translate-test"})
    transactional.init_transactions(30)

    def produce_transaction(commit):
        transactional.begin_transaction()
        for i in range(9):
            transactional.produce("orders", value=f"{'commit' if commit else 'abort'} {produced['committed' if commit else 'aborted'] + i}".encode(),
                                  partition=i % 3)
        transactional.flush(30)
        transactional.commit_transaction(30) if commit else transactional.abort_transaction(30)
        produced["committed" if commit else "aborted"] += 9

    produce_plain(300, "none")
    produce_plain(300, "lz4")
    produce_transaction(True)
    produce_transaction(False)
    for i in range(50):
        remote.produce("trimmed", value=f"t{i}".encode(), partition=0)
        remote.flush(30)
    for future in admin.delete_records([TopicPartition("trimmed", 0, 20)]).values():
        future.result()

    # The billing group reads part of orders at the source and commits.
    billing = Consumer({"bootstrap.servers": source, "group.id": "billing", "auto.offset.reset": "earliest", "enable.auto.commit": False,
                        "isolation.level": "read_committed"})
    billing.assign([TopicPartition("orders", p, 0) for p in range(3)])
    per_partition, progress = {0: 0, 1: 0, 2: 0}, Progress("the billing group's records")
    while min(per_partition.values()) < 90:
        for m in billing.consume(50, 0.5):
            if m.error() is None:
                per_partition[m.partition()] += 1
        progress.check(sum(per_partition.values()))
    billing.commit(asynchronous=False)
    billing_offsets = {tp.partition: tp.offset for tp in billing.committed([TopicPartition("orders", p) for p in range(3)], timeout=30)}
    billing.close()
    print(f"billing committed {billing_offsets} on the source")

    # Writers keep going while the mirror is SIGKILLed again and again.
    def keep_writing():
        rounds = 0
        while not stop.is_set():
            produce_plain(60, random.choice(["none", "lz4", "gzip"]))
            produce_transaction(rounds % 3 != 2)
            rounds += 1
    writer = threading.Thread(target=keep_writing)
    writer.start()

    def target_total():
        consumer = Consumer({"bootstrap.servers": target, "group.id": "ends"})
        try:
            return sum(consumer.get_watermark_offsets(TopicPartition("orders", p), timeout=30, cached=False)[1] for p in range(3))
        except KafkaException:
            return -1
        finally:
            consumer.close()

    rng = random.Random(int(os.environ.get("STELE_TEST_SEED", "18")))
    kills = 0
    process = mirror()
    for round in range(8):
        before = target_total()
        progress = Progress(f"the mirror's progress before kill {round + 1}")
        while target_total() <= before:
            if process.poll() is not None:
                fail(f"stele mirror exited with {process.returncode}")
            progress.check(0)
            time.sleep(0.02)
        time.sleep(rng.random() * 0.3)   # a random moment inside the mirror's passes (not a deadline)
        if round == 4:
            # The target dies under the mirror, which must reconnect and resume.
            servers["target"][2].send_signal(signal.SIGKILL)
            servers["target"][2].wait()
            serve("target")
            print("target SIGKILLed and restarted under the mirror")
            continue
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        process = mirror()
    stop.set()
    writer.join()
    print(f"mirror SIGKILLed {kills} times; the source took {produced}")

    # Caught up: every partition's committed records on the target are the source's.
    source_orders = committed_records(source, "orders", 3)
    wanted = sum(len(v) for v in source_orders.values())
    progress = Progress("the target to hold every committed source record")
    while True:
        if process.poll() is not None:
            fail(f"stele mirror exited with {process.returncode}")
        target_orders = committed_records(target, "orders", 3)
        have = sum(len(v) for v in target_orders.values())
        if have >= wanted:
            break
        progress.check(have, shown=f"{have} of {wanted}")
        time.sleep(0.1)
    for p in range(3):
        mine = [r[1:] for r in source_orders[p]]
        theirs = [r[1:] for r in target_orders[p]]
        if mine != theirs:
            extra = len(theirs) - len(mine)
            first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
            fail(f"orders-{p}: the target's records differ from the source's from record {first} ({len(theirs)} vs {len(mine)}, {extra} extra)")
        if any(v is not None and v.startswith(b"abort") for _, v, _, _ in theirs):
            fail(f"orders-{p}: an aborted record reached the target")
    print(f"orders: the target holds the source's {wanted} committed records in order, keys, values, headers and timestamps equal; none doubled, none aborted")

    source_trimmed, target_trimmed = committed_records(source, "trimmed", 1), committed_records(target, "trimmed", 1)
    if [r[1:] for r in source_trimmed[0]] != [r[1:] for r in target_trimmed[0]] or len(target_trimmed[0]) != 30:
        fail(f"trimmed: {len(target_trimmed[0])} records on the target, the source has {len(source_trimmed[0])}")
    print("trimmed: the 30 records left after DeleteRecords, nothing before them")

    foreign = committed_records(target, "foreign", 1)[0]
    if [r[2] for r in foreign] != [b"the target's own"]:
        fail(f"the target's own topic was written: {[r[2] for r in foreign]}")
    with open(os.path.join(work, "mirror.log")) as f:
        if "foreign on the target holds records this mirror did not copy" not in f.read():
            fail("the mirror did not say it left the target's own topic alone")
    print("foreign: a target topic with records of its own left alone")

    # A topic made while the mirror runs, the mirror SIGKILLed the moment the topic shows on
    # the target (around its first pass): the next run knows the topic as its own and copies it.
    for future in admin.create_topics([NewTopic("late", 2, 1)]).values():
        future.result()
    for i in range(100):
        remote.produce("late", key=f"l{i}".encode(), value=f"late {i}".encode(), partition=i % 2)
    remote.flush(30)
    progress = Progress("the late topic on the target")
    while "late" not in target_admin.list_topics(timeout=30).topics:
        if process.poll() is not None:
            fail(f"stele mirror exited with {process.returncode}")
        progress.check(0)
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process = mirror()
    source_late = committed_records(source, "late", 2)
    progress = Progress("the late topic's records on the target")
    while True:
        target_late = committed_records(target, "late", 2)
        if sum(len(v) for v in target_late.values()) >= 100:
            break
        progress.check(sum(len(v) for v in target_late.values()))
        time.sleep(0.1)
    if any([r[1:] for r in source_late[p]] != [r[1:] for r in target_late[p]] for p in range(2)):
        fail("late: the target's records differ from the source's")
    print("late: a topic made while mirroring, the mirror killed as it appeared on the target: all 100 records once")

    # The group's offsets, translated: never past the first record it had not read.
    watcher = Consumer({"bootstrap.servers": target, "group.id": "billing", "enable.auto.commit": False})
    progress = Progress("billing's translated offsets on the target")
    while True:
        translated = {tp.partition: tp.offset for tp in watcher.committed([TopicPartition("orders", p) for p in range(3)], timeout=30)}
        if all(offset >= 0 for offset in translated.values()):
            break
        progress.check(translated)
        time.sleep(0.05)
    watcher.close()
    reread = 0
    for p in range(3):
        # The first record billing had not read at the source, and where it sits on the target.
        index = next(i for i, r in enumerate(source_orders[p]) if r[0] >= billing_offsets[p])
        at_target = target_orders[p][index][0]
        if translated[p] > at_target:
            fail(f"orders-{p}: billing's translated offset {translated[p]} is past its next record at {at_target}: it would skip records")
        reread += sum(1 for r in target_orders[p] if translated[p] <= r[0] < at_target)
    print(f"billing: source offsets {billing_offsets} translated to {translated}; a consumer moved over reads {reread} records again, skips none")

    # Ordinary topics: no mirror config, and writable (failover is: stop the mirror, repoint).
    for resource, future in target_admin.describe_configs([ConfigResource("topic", "orders")]).items():
        described = {name: entry.value for name, entry in future.result().items()}
    if described.get("stele.mirror.source"):
        fail(f"the translated topic is a mirror topic: {described}")

    # A second mirror with the same transactional id takes over; the first, fenced, stops
    # (rather than fence the second back for ever) and the second goes on copying.
    with open(os.path.join(work, "mirror.log")) as f:
        said_before = f.read().count("translating offsets into")
    second = mirror()
    progress = Progress("the second mirror to start its producer")
    while True:
        with open(os.path.join(work, "mirror.log")) as f:
            if f.read().count("translating offsets into") > said_before:
                break
        if second.poll() is not None:
            fail(f"the second mirror exited with {second.returncode}")
        progress.check(0)
        time.sleep(0.05)
    produce_plain(30, "none")
    progress = Progress("the first mirror to stop, fenced")
    while process.poll() is None:
        progress.check(0)
        time.sleep(0.05)
    with open(os.path.join(work, "mirror.log")) as f:
        if process.returncode == 0 or "producerFenced" not in f.read():
            fail(f"the fenced mirror did not stop saying so (exit {process.returncode})")
    process = second
    wanted += 30
    progress = Progress("the second mirror to copy the new records")
    while True:
        have = sum(len(v) for v in committed_records(target, "orders", 3).values())
        if have == wanted:
            break
        if have > wanted:
            fail(f"the target holds {have} committed records, {wanted} were committed at the source")
        progress.check(have)
        time.sleep(0.1)
    print("a second mirror with the same transactional id took over: the first stopped, fenced; nothing doubled")

    process.send_signal(signal.SIGTERM)
    process.wait()
    delivered = []
    writer = Producer({"bootstrap.servers": target})
    writer.produce("orders", value=b"after failover", partition=0, on_delivery=lambda err, msg: delivered.append(err))
    writer.flush(30)
    if delivered != [None]:
        fail(f"a producer could not write to the target topic: {delivered}")
    print("the target topics are ordinary: a producer writes there once the mirror is stopped")
    print("PASS mirror_translate")
finally:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
