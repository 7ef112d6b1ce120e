#!/usr/bin/env python3
"""Kafka transactions against idempotent produce, measured in the same run on the same broker
with the same client (confluent-kafka, librdkafka), so the ratio means something on any machine:

- idempotent produce (enable.idempotence, acks=all) by --producers producers at once:
  records/s — the reference;
- transactional produce by as many producers (each its own transactional id), in transactions
  of 1,000 records: records/s, the ratio to the reference, and commit latency (commit_transaction,
  which flushes the transaction's records and ends it) p50/p99;
- consume-transform-produce exactly once (read_committed consumer, transactional producer,
  offsets sent to the transaction, 1,000 records per transaction): records/s end to end.

One case takes about a second here, where the disk and the scheduler make single runs vary by
±25 %: so both cases run --rounds times, alternating which goes first, and the table shows the
medians, their ratio, and the range of the per-round ratios.

usage: bench-transactions.py BIN_DIR [--records N] [--producers N] [--rounds N]
"""
import argparse
import os
import socket
import statistics
import subprocess
import threading
import sys
import tempfile
import time
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("bin")
parser.add_argument("--records", type=int, default=200_000)
parser.add_argument("--flush", default="always")
parser.add_argument("--producers", type=int, default=4)
parser.add_argument("--rounds", type=int, default=5)
args = parser.parse_args()

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="stele-bench-txn-")
kafka, http = free_port(), free_port()
server = subprocess.Popen([os.path.join(args.bin, "stele"), "serve", "--data-dir", os.path.join(work, "data"), "--kafka-port", str(kafka),
                           "--http-port", str(http), "--flush", args.flush], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
        break
    except Exception:
        if server.poll() is not None:
            sys.exit("the server did not start")
        time.sleep(0.05)
bootstrap = f"127.0.0.1:{kafka}"
admin = AdminClient({"bootstrap.servers": bootstrap})
PARTITIONS = 4


def create(topic):
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result()


common = {"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10000, "queue.buffering.max.messages": 1_000_000}


def run_producers(work):
    """Runs work(index) on --producers threads (librdkafka releases the GIL while it waits)."""
    results = [None] * args.producers
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, work(i))) for i in range(args.producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def idempotent(size, round):
    topic = f"idem-{size}-{round}"
    create(topic)
    value = b"x" * size
    share = args.records // args.producers
    producers = [Producer({**common, "enable.idempotence": True}) for _ in range(args.producers)]
    for producer in producers:
        # Warm up (connection, producer id, metadata) outside the clock, as init_transactions is.
        producer.produce(topic, value=value, partition=0)
        producer.flush(30)

    def work(index):
        producer = producers[index]
        for i in range(share):
            while True:
                try:
                    producer.produce(topic, value=value, partition=(i + index) % PARTITIONS)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(120)

    started = time.perf_counter()
    run_producers(work)
    return share * args.producers / (time.perf_counter() - started)


def transactional(size, round, per=1000):
    topic = f"txn-{size}-{round}"
    create(topic)
    value = b"x" * size
    share = args.records // args.producers
    producers = []
    for index in range(args.producers):
        producer = Producer({**common, "transactional.id": f"bench-{size}-{round}-{index}"})
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.produce(topic, value=value, partition=0)
        producer.commit_transaction(30)
        producers.append(producer)

    def work(index):
        producer, commits = producers[index], []
        for start in range(0, share, per):
            producer.begin_transaction()
            for i in range(start, min(start + per, share)):
                producer.produce(topic, value=value, partition=(i + index) % PARTITIONS)
            before = time.perf_counter()
            producer.commit_transaction(60)
            commits.append((time.perf_counter() - before) * 1000)
        return commits

    started = time.perf_counter()
    commits = sum(run_producers(work), [])
    return share * args.producers / (time.perf_counter() - started), commits


def consume_transform_produce(size, per=1000):
    source, sink = f"ctp-in-{size}", f"ctp-out-{size}"
    create(source)
    create(sink)
    plain = Producer(common)
    value = b"x" * size
    for i in range(args.records):
        while True:
            try:
                plain.produce(source, value=value, partition=i % PARTITIONS)
                break
            except BufferError:
                plain.poll(0.01)
    plain.flush(120)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ctp-{size}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.subscribe([source])
    producer = Producer({**common, "transactional.id": f"ctp-{size}"})
    producer.init_transactions(30)
    done = 0
    started = None
    while done < args.records:
        messages = [m for m in consumer.consume(per, 1.0) if m.error() is None]
        if not messages:
            continue
        started = started or time.perf_counter()
        producer.begin_transaction()
        for m in messages:
            producer.produce(sink, value=m.value(), partition=m.partition())
        positions = {}
        for m in messages:
            positions[m.partition()] = m.offset() + 1
        producer.send_offsets_to_transaction([TopicPartition(source, p, o) for p, o in positions.items()], consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(60)
        done += len(messages)
    consumer.close()
    return args.records / (time.perf_counter() - started)


def rate(value):
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k"


print(f"confluent-kafka {__import__('confluent_kafka').libversion()[0]}, {args.records} records per case, {PARTITIONS} partitions, "
      f"{args.producers} producers at once, flush={args.flush}, linger.ms=5, medians of {args.rounds} alternating rounds; "
      "consume-transform-produce: one consumer and one producer")
print()
print("| record | idempotent records/s | transactional records/s (1,000 per txn) | ratio (per-round range) | commit p50 ms | commit p99 ms | consume-transform-produce records/s |")
print("| ------ | -------------------- | ---------------------------------------- | ----------------------- | ------------- | ------------- | ----------------------------------- |")
try:
    for size in (100, 1024):
        references, txns, ratios, commits = [], [], [], []
        for round in range(args.rounds):
            if round % 2 == 0:
                reference = idempotent(size, round)
                txn, latencies = transactional(size, round)
            else:
                txn, latencies = transactional(size, round)
                reference = idempotent(size, round)
            references.append(reference)
            txns.append(txn)
            ratios.append(txn / reference)
            commits += latencies
        commits.sort()
        p50, p99 = commits[len(commits) // 2], commits[min(len(commits) - 1, int(len(commits) * 0.99))]
        reference, txn = statistics.median(references), statistics.median(txns)
        ctp = consume_transform_produce(size)
        print(f"| {size} B | {rate(reference)} | {rate(txn)} | {txn / reference:.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) | {p50:.1f} | {p99:.1f} | {rate(ctp)} |", flush=True)
finally:
    server.kill()
    server.wait()
