#!/usr/bin/env python3
"""Optimistic concurrency through an unchanged Kafka producer: the `stele.expected-version`
header is checked like an event-store append; a conflict refuses the batch (INVALID_RECORD)
and writes nothing."""
import sys
import uuid
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from progress import Progress

bootstrap = sys.argv[1]
topic = f"accounts-{uuid.uuid4().hex[:8]}"
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, retries=0, linger_ms=0)


def send(value, expected):
    headers = [] if expected is None else [("stele.expected-version", str(expected).encode())]
    return producer.send(topic, key=b"acc-1", value=value, headers=headers, partition=0).get(timeout=30)


send(b"opened", -1)
send(b"deposited 50", 0)
try:
    send(b"withdrew 20 (stale)", 0)
    sys.exit("a stale expected version was accepted")
except KafkaError as error:
    if "InvalidRecord" not in type(error).__name__ and "87" not in str(error):
        sys.exit(f"a conflict should be INVALID_RECORD, got {error!r}")
    # Produce v8+ carries the broker's message: the stream and both versions.
    if "acc-1" not in str(error) or "expected version 0" not in str(error) or "current version is 1" not in str(error):
        sys.exit(f"the conflict message should name the stream and both versions: {error}")
send(b"withdrew 20", 1)
send(b"unchecked", None)
try:
    send(b"bad header", "two")
    sys.exit("a malformed expected version was accepted")
except KafkaError:
    pass
producer.close()
expected = [b"opened", b"deposited 50", b"withdrew 20", b"unchecked"]
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
tp = TopicPartition(topic, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
values = []
progress = Progress(f"the {len(expected)} accepted records")
while len(values) < len(expected):
    for messages in consumer.poll(timeout_ms=1000).values():
        values += [m.value for m in messages]
    progress.check(len(values))
# Nothing else written: the partition ends after the accepted records.
end = consumer.end_offsets([tp], timeout_ms=60000)[tp]
consumer.close()
if values != expected or end != len(expected):
    sys.exit(f"the stream holds {values} (log end {end})")
print("stele.expected-version: conflicts refused with INVALID_RECORD, nothing written: OK")
