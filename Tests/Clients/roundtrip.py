#!/usr/bin/env python3
"""Round trip through `stele serve` with an unchanged Kafka client.

Creates a topic, produces 10,000 keyed records with headers and explicit timestamps (acks=all),
consumes them from the beginning by explicit assignment (no consumer group), and checks every
key, value, header, timestamp and the order; then ListOffsets by timestamp; then deletes the
topic. Exits non-zero with a message on the first mismatch.

    roundtrip.py --client kafka-python|aiokafka|confluent --bootstrap 127.0.0.1:9092
"""
import argparse
import asyncio
import sys
import time
import uuid

from progress import Progress

COUNT = 10_000
BASE_TS = 1_700_000_000_000


def record(i):
    key = f"key-{i % 97}".encode()
    value = (f"value-{i}-" + "x" * (i % 50)).encode()
    headers = [("seq", str(i).encode()), ("kind", b"test")]
    return key, value, headers, BASE_TS + i


def check(consumed, client):
    """consumed: list of (offset, key, value, headers as list of (str, bytes)), timestamp)."""
    if len(consumed) != COUNT:
        sys.exit(f"{client}: consumed {len(consumed)} records, expected {COUNT}")
    for i, (offset, key, value, headers, ts) in enumerate(consumed):
        ekey, evalue, eheaders, ets = record(i)
        if offset != i:
            sys.exit(f"{client}: record {i} has offset {offset}")
        if key != ekey or value != evalue:
            sys.exit(f"{client}: record {i} is {key!r}={value!r}, expected {ekey!r}={evalue!r}")
        if [(k, bytes(v)) for k, v in headers] != eheaders:
            sys.exit(f"{client}: record {i} headers {headers!r}, expected {eheaders!r}")
        if ts != ets:
            sys.exit(f"{client}: record {i} timestamp {ts}, expected {ets}")


def kafka_python(bootstrap, topic, compression=None):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaTimeoutError
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    # The idempotent default needs InitProducerId, which arrives with the idempotent producer.
    # No delivery timeout (120 s by default, counted from when a batch is created): the flush
    # below waits as long as acknowledgements keep coming.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5,
                             compression_type=compression, delivery_timeout_ms=2**31 - 1)
    futures = [producer.send(topic, key=k, value=v, headers=h, timestamp_ms=ts) for k, v, h, ts in map(record, range(COUNT))]
    progress = Progress(f"kafka-python to have {COUNT} records acknowledged")
    while True:
        try:
            producer.flush(timeout=1)
            break
        except KafkaTimeoutError:
            progress.check(sum(f.is_done for f in futures))
    offsets = [f.get(timeout=60).offset for f in futures]
    if offsets != list(range(COUNT)):
        sys.exit("kafka-python: acknowledged offsets are not 0..9999 in order")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    consumed = []
    progress = Progress(f"kafka-python to consume {COUNT} records")
    while len(consumed) < COUNT:
        for messages in consumer.poll(timeout_ms=1000).values():
            consumed += [(m.offset, m.key, m.value, m.headers, m.timestamp) for m in messages]
        progress.check(len(consumed))
    check(consumed, "kafka-python")
    # Nothing beyond the records sent: the consumer stands at the end of the partition.
    position, end = consumer.position(tp, timeout_ms=60000), consumer.end_offsets([tp], timeout_ms=60000)[tp]
    if position != COUNT or end != COUNT:
        sys.exit(f"kafka-python: consumer at {position}, log end {end}, expected both {COUNT}")
    found = consumer.offsets_for_times({tp: BASE_TS + 5000}, timeout_ms=60000)[tp]
    if found.offset != 5000 or found.timestamp != BASE_TS + 5000:
        sys.exit(f"kafka-python: offsets_for_times gave {found}")
    consumer.close()
    admin.delete_topics([topic])
    admin.close()


async def aiokafka_roundtrip(bootstrap, topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    # Auto-created on first use (aiokafka has no admin client in the producer).
    futures = [await producer.send(topic, key=k, value=v, headers=h, timestamp_ms=ts) for k, v, h, ts in map(record, range(COUNT))]
    offsets = [(await f).offset for f in futures]
    await producer.stop()
    if offsets != list(range(COUNT)):
        sys.exit("aiokafka: acknowledged offsets are not 0..9999 in order")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    consumed = []
    progress = Progress(f"aiokafka to consume {COUNT} records")
    while len(consumed) < COUNT:
        for _, messages in (await consumer.getmany(timeout_ms=1000)).items():
            consumed += [(m.offset, m.key, m.value, list(m.headers), m.timestamp) for m in messages]
        progress.check(len(consumed))
    check(consumed, "aiokafka")
    found = (await consumer.offsets_for_times({tp: BASE_TS + 5000}))[tp]
    if found.offset != 5000 or found.timestamp != BASE_TS + 5000:
        sys.exit(f"aiokafka: offsets_for_times gave {found}")
    await consumer.stop()


def confluent(bootstrap, topic):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(timeout=60)
    # message.timeout.ms 0: no delivery deadline (librdkafka: 0 is infinite); the flush below
    # waits as long as deliveries keep coming.
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 0})
    delivered = {}
    errors = []

    def on_delivery(error, message):
        # Exceptions cannot leave a librdkafka callback: collect and report after flush.
        try:
            if error is not None:
                errors.append(str(error))
            else:
                delivered[int(message.value().split(b"-")[1])] = message.offset()
        except Exception as exception:  # noqa: BLE001 — reported after flush
            errors.append(repr(exception))

    for k, v, h, ts in map(record, range(COUNT)):
        producer.produce(topic, key=k, value=v, headers=h, timestamp=ts, on_delivery=on_delivery)
        producer.poll(0)
    progress = Progress(f"confluent-kafka to deliver {COUNT} records")
    while producer.flush(1) > 0:
        progress.check(len(delivered) + len(errors))
    if errors:
        sys.exit(f"confluent-kafka: {len(errors)} deliveries failed, first: {errors[0]}")
    if [delivered.get(i) for i in range(COUNT)] != list(range(COUNT)):
        sys.exit("confluent-kafka: delivered offsets are not 0..9999 in order")
    # confluent-kafka's Consumer needs a group.id even with assign() (it asks the coordinator).
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"assign-{topic}", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    consumed = []
    progress = Progress(f"confluent-kafka to consume {COUNT} records")
    while len(consumed) < COUNT:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            consumed.append((m.offset(), m.key(), m.value(), list(m.headers() or []), m.timestamp()[1]))
        progress.check(len(consumed))
    check(consumed, "confluent-kafka")
    found = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 5000)], timeout=60)[0]
    if found.offset != 5000:
        sys.exit(f"confluent-kafka: offsets_for_times gave {found.offset}")
    consumer.close()
    # ListOffsets by spec (KIP-734): earliest, latest and the record with the largest timestamp,
    # which is not the last one here (found by review: -3 was answered as a time, offset 0).
    from confluent_kafka.admin import OffsetSpec
    late = BASE_TS + 10 * COUNT * 1000
    delivered.clear()
    producer.produce(topic, key=b"late", value=b"x", timestamp=late, on_delivery=on_delivery)
    producer.produce(topic, key=b"after", value=b"y", timestamp=BASE_TS, on_delivery=on_delivery)
    producer.flush(60)
    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(), "max": OffsetSpec.max_timestamp()}
    answers = {}
    for name, spec in specs.items():
        result = admin.list_offsets({TopicPartition(topic, 0): spec})
        answers[name] = list(result.values())[0].result(timeout=60)
    got = (answers["earliest"].offset, answers["latest"].offset, answers["max"].offset, answers["max"].timestamp)
    if got != (0, COUNT + 2, COUNT, late):
        sys.exit(f"confluent-kafka: list_offsets earliest/latest/max-timestamp gave {got}, expected {(0, COUNT + 2, COUNT, late)}")
    # DescribeCluster (KIP-700): the cluster id and the one node.
    cluster = admin.describe_cluster().result(timeout=60)
    if cluster.cluster_id != "stele" or [node.id for node in cluster.nodes] != [0] or cluster.controller.id != 0:
        sys.exit(f"confluent-kafka: describe_cluster gave {cluster.cluster_id} {cluster.nodes} {cluster.controller}")
    for future in admin.delete_topics([topic]).values():
        future.result(timeout=60)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True, choices=["kafka-python", "aiokafka", "confluent"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--compression", choices=["gzip", "lz4", "zstd", "snappy"], help="kafka-python only")
    args = parser.parse_args()
    topic = f"roundtrip-{args.client}-{uuid.uuid4().hex[:8]}"
    started = time.time()
    if args.client == "kafka-python":
        kafka_python(args.bootstrap, topic, args.compression)
    elif args.client == "aiokafka":
        asyncio.run(aiokafka_roundtrip(args.bootstrap, topic))
    else:
        confluent(args.bootstrap, topic)
    codec = f" ({args.compression})" if args.compression else ""
    print(f"{args.client}{codec}: {COUNT} records round-tripped in {time.time() - started:.1f}s: OK")


if __name__ == "__main__":
    main()
