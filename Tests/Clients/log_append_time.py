#!/usr/bin/env python3
"""A topic with message.timestamp.type=LogAppendTime: the broker stamps batches with its own
clock (and recomputes the CRC, which kafka-python checks on fetch), whatever the producer sent."""
import sys
import time
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from progress import Progress

bootstrap, topic = sys.argv[1], sys.argv[2]
before = int(time.time() * 1000)
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
metadata = producer.send(topic, key=b"k", value=b"v", timestamp_ms=1000).get(timeout=30)
producer.close()
if metadata.timestamp < before:
    sys.exit(f"the produce response did not carry the log append time: {metadata.timestamp}")
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, check_crcs=True)
tp = TopicPartition(topic, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
messages = []
progress = Progress(f"the record in {topic}")
while not messages:
    for batch in consumer.poll(timeout_ms=1000).values():
        messages += batch
    progress.check(len(messages))
# Nothing else in the topic: it ends after the one record.
end = consumer.end_offsets([tp], timeout_ms=60000)[tp]
consumer.close()
if end != 1:
    sys.exit(f"expected one record in {topic}, the log ends at offset {end}")
if len(messages) != 1 or messages[0].timestamp_type != 1 or messages[0].timestamp < before:
    sys.exit(f"expected one LogAppendTime record stamped after {before}, got {[(m.timestamp_type, m.timestamp) for m in messages]}")
print("LogAppendTime topic: stamped by the broker, CRC valid: OK")
