#!/usr/bin/env python3
"""A checker in the style of Jepsen's Kafka queue workload, for transactions, under broker
faults. A `stele serve` child is SIGKILLed and restarted, or SIGSTOPped and resumed, at random
moments while confluent-kafka transactional producers commit and abort transactions over three
partitions and a read_committed consumer polls. Then every record is read back committed (by
confluent-kafka and kafka-python) and the history is checked:

- lost writes: a record of a transaction whose commit was acknowledged is missing;
- aborted reads: a record of an aborted transaction is visible (to the final reads or to a poll);
- half-visible transactions: a transaction whose outcome the producer never learned (the
  broker died under its commit) is visible in part;
- duplicates: a record appears twice;
- non-monotonic polls: the consumer saw a partition's offsets go back;
- skipped polls: the consumer moved past a committed record it never returned;
- inconsistent offsets: the consumer and the final reads disagree on the record at an offset.

Each count is printed and must be zero. Kill points are random (seeded), so each run explores
different moments of InitProducerId, AddPartitionsToTxn, Produce, EndTxn and the markers; the
waits are for progress, never for a fixed time.

usage: transactions_faults.py BIN_DIR [--cycles N] [--seed S]
"""
import argparse
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

parser = argparse.ArgumentParser()
parser.add_argument("bin")
parser.add_argument("--cycles", type=int, default=12)
parser.add_argument("--seed", type=int, default=int(time.time()))
args = parser.parse_args()
rng = random.Random(args.seed)
print(f"seed {args.seed}", flush=True)

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="stele-txn-faults-")
data = os.path.join(work, "data")
kafka_port, http_port = free_port(), free_port()
bootstrap = f"127.0.0.1:{kafka_port}"
TOPIC, PARTITIONS = "txn-faults", 3
broker = {"process": None}
log = open(os.path.join(work, "serve.log"), "ab")


def start():
    broker["process"] = subprocess.Popen([os.path.join(args.bin, "stele"), "serve", "--data-dir", data, "--kafka-port", str(kafka_port),
                                          "--http-port", str(http_port)], stdout=log, stderr=log)
    progress = Progress("the broker to answer /health")
    while True:
        if broker["process"].poll() is not None:
            sys.exit(f"FAIL the broker exited with {broker['process'].returncode} (see {work}/serve.log)")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5).read()
            return
        except Exception:
            progress.check(0)
            time.sleep(0.05)


def kill():
    broker["process"].send_signal(signal.SIGKILL)
    broker["process"].wait()


start()
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
    future.result()

# Outcomes: txn name -> (records, outcome) with outcome "committed", "aborted" or "unknown".
history, history_lock = {}, threading.Lock()
stop = threading.Event()
polls = []   # (partition, offset, value) as the read_committed consumer returned them, in order
consumer_errors = []


def producer_worker(worker):
    producer, txn = None, 0
    while not stop.is_set():
        try:
            if producer is None:
                producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"faults-{worker}",
                                     "transaction.timeout.ms": 4000, "message.timeout.ms": 3000, "linger.ms": 2,
                                     "socket.timeout.ms": 3000, "retry.backoff.ms": 50})
                producer.init_transactions(30)
            name = f"w{worker}-t{txn}"
            txn += 1
            records = [f"{name}-{i}" for i in range(rng.randint(1, 12))]
            commit = rng.random() < 0.7
            with history_lock:
                history[name] = (records, "unknown")
            producer.begin_transaction()
            for i, value in enumerate(records):
                producer.produce(TOPIC, value=value.encode(), partition=i % PARTITIONS)
            if commit:
                producer.commit_transaction(30)
            else:
                producer.abort_transaction(30)
            with history_lock:
                history[name] = (records, "committed" if commit else "aborted")
        except KafkaException as error:
            kafka_error = error.args[0]
            # An outcome the producer did not learn stays "unknown". An abortable error: abort
            # (the outcome is then known); anything else: a new producer (init fences the old).
            try:
                if kafka_error.txn_requires_abort():
                    producer.abort_transaction(30)
                    with history_lock:
                        history[name] = (history[name][0], "aborted")
                    continue
            except KafkaException:
                pass
            producer = None
        except Exception as error:  # noqa: BLE001 - a timeout inside the client library
            producer = None


def consumer_worker():
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-reader", "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    while not stop.is_set():
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error() is not None:
            continue
        polls.append((message.partition(), message.offset(), message.value().decode()))
    consumer.close()


threads = [threading.Thread(target=producer_worker, args=(w,), daemon=True) for w in range(2)]
threads.append(threading.Thread(target=consumer_worker, daemon=True))
for thread in threads:
    thread.start()

kills = stops = 0
for cycle in range(args.cycles):
    # Wait for some transactions to finish (progress, not time), then a fault at a random moment.
    def finished():
        with history_lock:
            return sum(1 for _, outcome in history.values() if outcome != "unknown")
    target = finished() + rng.randint(2, 8)
    progress = Progress(f"transactions to finish before fault {cycle + 1}")
    while finished() < target:
        progress.check(finished())
        time.sleep(0.01)
    time.sleep(rng.random() * 0.05)
    if rng.random() < 0.75:
        kill()
        kills += 1
        start()
    else:
        broker["process"].send_signal(signal.SIGSTOP)
        time.sleep(rng.uniform(0.5, 3.5))
        broker["process"].send_signal(signal.SIGCONT)
        stops += 1
stop.set()
for thread in threads:
    thread.join(timeout=120)

# Every transaction left open (its producer gone) is aborted by its timeout: wait until the last
# stable offsets reach the high watermarks.
reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-final", "isolation.level": "read_committed"})
progress = Progress("open transactions to be aborted by their timeout")
while True:
    # librdkafka's read_committed consumer asks ListOffsets with isolation 1: the last stable offset.
    stable = [reader.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10, cached=False) for p in range(PARTITIONS)]
    uncommitted = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-hw", "isolation.level": "read_uncommitted"})
    highs = [uncommitted.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10, cached=False)[1] for p in range(PARTITIONS)]
    uncommitted.close()
    lso = [s[1] for s in stable]
    if lso == highs:
        break
    progress.check(tuple(lso))
    time.sleep(0.1)
reader.close()


def read_committed_confluent():
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-check", "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    seen, quiet = [], 0
    while quiet < 10:
        message = consumer.poll(0.3)
        if message is None or message.error() is not None:
            quiet += 1
            continue
        quiet = 0
        seen.append((message.partition(), message.offset(), message.value().decode()))
    consumer.close()
    return seen


def read_committed_kafka_python():
    from kafka import KafkaConsumer, TopicPartition as KTP
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    consumer.assign([KTP(TOPIC, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    seen, quiet = [], 0
    while quiet < 6:
        batch = consumer.poll(timeout_ms=500)
        got = [(r.partition, r.offset, r.value.decode()) for records in batch.values() for r in records]
        quiet = 0 if got else quiet + 1
        seen += got
    consumer.close()
    return seen


final = read_committed_confluent()
second = read_committed_kafka_python()
at = {(p, o): v for p, o, v in final}
values = [v for _, _, v in final]
owner = {value: name for name, (records, _) in history.items() for value in records}
outcomes = {name: outcome for name, (_, outcome) in history.items()}

lost = sum(1 for name, (records, outcome) in history.items() if outcome == "committed" for v in records if v not in set(values))
aborted_reads = sum(1 for v in values if outcomes.get(owner.get(v)) == "aborted") \
    + sum(1 for _, _, v in polls if outcomes.get(owner.get(v)) == "aborted")
visible = set(values)
half = sum(1 for name, (records, outcome) in history.items() if outcome == "unknown" and 0 < sum(v in visible for v in records) < len(records))
duplicates = len(values) - len(set(values))
non_monotonic, skipped = 0, 0
last = {}
committed_offsets = {p: sorted(o for (pp, o) in at if pp == p) for p in range(PARTITIONS)}
for p, o, v in polls:
    if p in last and o <= last[p]:
        non_monotonic += 1
    elif p in last:
        skipped += sum(1 for x in committed_offsets[p] if last[p] < x < o)
    last[p] = o
inconsistent = sum(1 for p, o, v in polls if at.get((p, o)) not in (None, v)) + sum(1 for p, o, v in second if at.get((p, o)) != v) \
    + abs(len(second) - len(final))
unknown = sum(1 for outcome in outcomes.values() if outcome == "unknown")
committed = sum(1 for outcome in outcomes.values() if outcome == "committed")
aborted = sum(1 for outcome in outcomes.values() if outcome == "aborted")
print(f"{kills} SIGKILLs and {stops} SIGSTOPs of the broker; {committed} transactions committed, {aborted} aborted, "
      f"{unknown} with an unknown outcome; {len(values)} records read committed, {len(polls)} polled during the faults", flush=True)
counts = {"lost writes": lost, "aborted reads": aborted_reads, "half-visible transactions": half, "duplicates": duplicates,
          "non-monotonic polls": non_monotonic, "skipped polls": skipped, "inconsistent offsets": inconsistent}
print("  " + ", ".join(f"{name}: {count}" for name, count in counts.items()), flush=True)
kill()
if any(counts.values()) or committed == 0:
    sys.exit(f"FAIL transactions under faults (seed {args.seed}, data in {work})")
print("transactions under faults: PASS", flush=True)
