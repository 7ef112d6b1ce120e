#!/usr/bin/env python3
"""Old protocol versions against `stele serve`: kafka-python pinned to Kafka 0.8.2, 0.9, 0.10.0
and 0.10.1 (Produce v0–2 and Fetch v0–3, message formats v0 and v1, plain and compressed),
read back by the same old client and by a current one; and records a current producer wrote
(headers, zstd) read by the old clients, converted down.

    old_clients.py BOOTSTRAP

Every case prints one line; exit 1 if any failed.
"""
import sys
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition as CTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap = sys.argv[1]
failures = 0
COUNT = 50


def case(name, ok, detail=""):
    global failures
    print(("OK   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures += 1


def old_read(topic, version, count):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, api_version=version, consumer_timeout_ms=10000, fetch_max_bytes=1 << 20)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek(TopicPartition(topic, 0), 0)
    got = []
    for message in consumer:
        got.append(message)
        if len(got) == count:
            break
    consumer.close()
    return got


def current_read(topic, count):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
    consumer.assign([CTopicPartition(topic, 0, 0)])
    got = []
    while len(got) < count:
        message = consumer.poll(10)
        if message is None or message.error():
            break
        got.append(message)
    consumer.close()
    return got


suffix = uuid.uuid4().hex[:8]
for version, timestamps in [((0, 8, 2), False), ((0, 9), False), ((0, 10, 0), True), ((0, 10, 1), True)]:
    for compression in [None, "gzip"] + (["lz4"] if timestamps else []):
        name = ".".join(map(str, version)) + f" {compression or 'plain'}"
        topic = f"old-{suffix}-{'-'.join(map(str, version))}-{compression or 'none'}"
        producer = KafkaProducer(bootstrap_servers=bootstrap, api_version=version, compression_type=compression, linger_ms=5)
        futures = [producer.send(topic, key=f"k{i % 5}".encode(), value=f"value-{i}".encode(), partition=0,
                                 timestamp_ms=1_700_000_000_000 + i if timestamps else None) for i in range(COUNT)]
        offsets = [future.get(60).offset for future in futures]
        producer.close()
        case(f"{name}: produced with offsets 0…{COUNT - 1}", offsets == list(range(COUNT)), offsets[:5])
        got = old_read(topic, version, COUNT)
        ok = [(m.offset, m.key, m.value) for m in got] == [(i, f"k{i % 5}".encode(), f"value-{i}".encode()) for i in range(COUNT)]
        case(f"{name}: read back by the same client", ok, [(m.offset, m.value) for m in got[:3]])
        if timestamps:
            case(f"{name}: timestamps kept", [m.timestamp for m in got] == [1_700_000_000_000 + i for i in range(COUNT)],
                 [m.timestamp for m in got[:3]])
        current = current_read(topic, COUNT)
        case(f"{name}: a current client reads the same records", [(m.offset(), m.value()) for m in current]
             == [(i, f"value-{i}".encode()) for i in range(COUNT)], len(current))

# Written by a current producer (headers, zstd): old clients read the records, without headers.
topic = f"new-{suffix}"
producer = Producer({"bootstrap.servers": bootstrap, "compression.type": "zstd", "linger.ms": 5})
for i in range(COUNT):
    producer.produce(topic, key=f"k{i}".encode(), value=f"new-{i}".encode(), partition=0, headers=[("h", b"x")], timestamp=1_700_000_000_000 + i)
producer.flush(60)
for version in [(0, 9), (0, 10, 1)]:
    got = old_read(topic, version, COUNT)
    case(f"{'.'.join(map(str, version))}: reads zstd batches with headers, converted",
         [(m.offset, m.value) for m in got] == [(i, f"new-{i}".encode()) for i in range(COUNT)], [(m.offset, m.value) for m in got[:3]])
current = current_read(topic, COUNT)
case("the current client still sees the headers (nothing stored changed)", len(current) == COUNT and current[0].headers() == [("h", b"x")],
     current[0].headers() if current else None)

print("old clients: %d failure(s)" % failures)
sys.exit(1 if failures else 0)
