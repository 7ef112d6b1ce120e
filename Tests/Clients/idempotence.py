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


def produce_kafka_python(bootstrap, topic, count, ready):
    from kafka import KafkaProducer
    # kafka-python's default producer is idempotent (acks=all, enable_idempotence=True).
    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=2**31 - 1, linger_ms=2,
                             request_timeout_ms=5000, reconnect_backoff_ms=50, retry_backoff_ms=100,
                             delivery_timeout_ms=120000)
    if not producer.config["enable_idempotence"]:
        sys.exit("kafka-python: the default producer is expected to be idempotent")
    futures = []
    for i in range(count):
        futures.append(producer.send(topic, key=b"k", value=str(i).encode(), partition=0))
        if i == count // 10:
            open(ready, "w").close()
        if i % 200 == 0:
            time.sleep(0.01)
    producer.flush(timeout=120)
    acked = [f.get(timeout=120).offset for f in futures]
    producer.close()
    return acked


def produce_confluent(bootstrap, topic, count, ready):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 2, "message.timeout.ms": 120000, "reconnect.backoff.ms": 50})
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
    if producer.flush(120) != 0:
        sys.exit("confluent-kafka: records left undelivered")
    if errors:
        sys.exit(f"confluent-kafka: {len(errors)} deliveries failed, first: {errors[0]}")
    return [acked.get(i) for i in range(count)]


def consume(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = [(m.offset, int(m.value)) for m in consumer]
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
