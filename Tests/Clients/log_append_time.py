#!/usr/bin/env python3
"""A topic with message.timestamp.type=LogAppendTime: the broker stamps batches with its own
clock (and recomputes the CRC, which kafka-python checks on fetch), whatever the producer sent."""
import sys
import time
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
before = int(time.time() * 1000)
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
metadata = producer.send(topic, key=b"k", value=b"v", timestamp_ms=1000).get(timeout=30)
producer.close()
if metadata.timestamp < before:
    sys.exit(f"the produce response did not carry the log append time: {metadata.timestamp}")
consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000, check_crcs=True)
tp = TopicPartition(topic, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
messages = list(consumer)
consumer.close()
if len(messages) != 1 or messages[0].timestamp_type != 1 or messages[0].timestamp < before:
    sys.exit(f"expected one LogAppendTime record stamped after {before}, got {[(m.timestamp_type, m.timestamp) for m in messages]}")
print("LogAppendTime topic: stamped by the broker, CRC valid: OK")
