"""A full disk while producing: appends that meet it fail with an error the producer sees, none
that was acknowledged is lost, and once space is freed the partition takes appends again
without a restart. Usage: disk_full.py BOOTSTRAP TOPIC FILLER_PATH

Phase 1 produces until deliveries fail (the disk is full); phase 2 frees the filler file and
produces again; then every acknowledged record must be read back exactly once, in order."""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, os.path.dirname(__file__))
from progress import Progress  # noqa: E402

bootstrap, topic, filler = sys.argv[1], sys.argv[2], sys.argv[3]
# The topic holds one record, "first", produced before the disk was filled.
acked, failed = [], []


def report(error, message):
    (failed if error else acked).append(message.value() if not error else str(error))


# Retries off: a refused append must come back as an error, not be retried until space returns.
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0, "linger.ms": 0,
                     "message.timeout.ms": 0, "enable.idempotence": False})
value = b"x" * 4000
progress = Progress("deliveries while the disk fills")
index = 0
while not failed:
    producer.produce(topic, key=b"k", value=b"%08d" % index + value, partition=0, on_delivery=report)
    index += 1
    if index % 50 == 0:
        while producer.flush(1):
            progress.check(len(acked) + len(failed))
    if index > 100_000:
        sys.exit("the disk never filled")
while producer.flush(1):
    progress.check(len(acked) + len(failed))
print(f"disk full after {len(acked)} acknowledged records; first refusal: {failed[0]}")

os.remove(filler)
# Space is back: the partition recovers in place at its next append (at most once a second).
progress = Progress("appends to work again after space was freed")
after = []
while len(after) < 20:
    before = len(acked)
    producer.produce(topic, key=b"k", value=b"after-%02d" % len(after), partition=0, on_delivery=report)
    while producer.flush(1):
        pass
    if len(acked) > before:
        after.append(acked[-1])
    else:
        progress.check(len(failed))
        time.sleep(0.2)
print(f"appends work again without a restart: {len(after)} more acknowledged")

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "disk-full-check", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest"})
consumer.assign([TopicPartition(topic, 0, 0)])
expected = [b"first"] + acked  # the record the script produced before the disk filled
seen = []
progress = Progress("reading back the acknowledged records")
while len(seen) < len(expected):
    message = consumer.poll(1)
    if message is None or message.error():
        progress.check(len(seen))
        continue
    seen.append(message.value())
consumer.close()
if seen != expected:
    missing = [v[:8] for v in expected if v not in seen][:5]
    sys.exit(f"read back {len(seen)} records, acknowledged {len(expected)}; missing {missing}")
print(f"all {len(acked)} acknowledged records read back exactly once, in order")
