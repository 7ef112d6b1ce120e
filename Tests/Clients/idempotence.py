#!/usr/bin/env python3
"""An idempotent producer streams records while the broker is SIGKILLed and restarted
(by the calling script). Afterwards every acknowledged record must be present exactly once,
in order: retried batches must be recognised as duplicates, and nothing acknowledged lost.

    idempotence.py --client kafka-python|confluent --bootstrap HOST:PORT --count N --ready FILE
"""
import argparse
import sys
import time
import uuid

from progress import Progress


def produce_kafka_python(bootstrap, topic, count, ready):
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError
    # kafka-python's default producer is idempotent (acks=all, enable_idempotence=True).
    # No delivery timeout: on a slow machine two broker restarts may take longer than any fixed
    # limit; the flush below fails only when acknowledgements stop coming.
    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=2**31 - 1, linger_ms=2,
                             request_timeout_ms=5000, reconnect_backoff_ms=50, retry_backoff_ms=100,
                             delivery_timeout_ms=2**31 - 1)
    if not producer.config["enable_idempotence"]:
        sys.exit("kafka-python: the default producer is expected to be idempotent")
    futures = []
    for i in range(count):
        futures.append(producer.send(topic, key=b"k", value=str(i).encode(), partition=0))
        if i == count // 10:
            open(ready, "w").close()
        if i % 200 == 0:
            time.sleep(0.01)
    progress = Progress(f"kafka-python: acknowledgements of {count} records")
    while True:
        try:
            producer.flush(timeout=1)
            break
        except KafkaTimeoutError:
            progress.check(sum(f.is_done for f in futures))
    acked = [f.get(timeout=120).offset for f in futures]
    producer.close()
    return acked


def produce_confluent(bootstrap, topic, count, ready):
    from confluent_kafka import Producer
    # message.timeout.ms 0: no delivery deadline (librdkafka: 0 is infinite), as above; the flush
    # below fails only when deliveries stop coming.
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 2, "message.timeout.ms": 0, "reconnect.backoff.ms": 50})
    acked = {}
    errors = []

    def on_delivery(error, message):
        if error is not None:
            errors.append(str(error))
        else:
            acked[int(message.value())] = message.offset()

    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=b"k", value=str(i).encode(), partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        if i == count // 10:
            open(ready, "w").close()
        if i % 200 == 0:
            time.sleep(0.01)
    progress = Progress(f"confluent-kafka: deliveries of {count} records")
    while producer.flush(1) > 0:
        progress.check(len(acked) + len(errors))
    if errors:
        sys.exit(f"confluent-kafka: {len(errors)} deliveries failed, first: {errors[0]}")
    return [acked.get(i) for i in range(count)]


def consume(bootstrap, topic):
    """Every record of the partition, read up to its end offset."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp], timeout_ms=60000)[tp]
    values = []
    progress = Progress(f"reading {topic} back to its end offset {end}")
    while consumer.position(tp, timeout_ms=60000) < end:
        for messages in consumer.poll(timeout_ms=1000).values():
            values += [(m.offset, int(m.value)) for m in messages]
        progress.check(len(values))
    consumer.close()
    return values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True, choices=["kafka-python", "confluent"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--ready", required=True, help="file created once streaming is under way")
    args = parser.parse_args()
    topic = f"idempotent-{args.client}-{uuid.uuid4().hex[:8]}"
    produce = produce_kafka_python if args.client == "kafka-python" else produce_confluent
    acked = produce(args.bootstrap, topic, args.count, args.ready)
    if None in acked:
        sys.exit(f"{args.client}: {acked.count(None)} records never acknowledged")
    stored = consume(args.bootstrap, topic)
    values = [v for _, v in stored]
    if values != list(range(args.count)):
        duplicates = len(values) - len(set(values))
        missing = len(set(range(args.count)) - set(values))
        sys.exit(f"{args.client}: log holds {len(values)} records ({duplicates} duplicates, {missing} missing), expected 0..{args.count - 1} once each in order")
    offsets = {v: o for o, v in stored}
    if any(offsets[i] != acked[i] for i in range(args.count)):
        sys.exit(f"{args.client}: an acknowledged offset differs from where the record is stored")
    print(f"{args.client}: {args.count} records, broker killed mid-stream, each stored exactly once in order: OK")


if __name__ == "__main__":
    main()
