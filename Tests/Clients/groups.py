#!/usr/bin/env python3
"""A consumer group through `stele serve`: a member consumes part of a topic and commits; a new
member of the same group resumes exactly after the committed offset; the committed offset and
its metadata read back unchanged."""
import argparse
import asyncio
import sys
import time
import uuid

from progress import Progress

COUNT = 1000


def produce(bootstrap, topic):
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic
    KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([NewTopic(topic, 1, 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(COUNT):
        producer.send(topic, key=b"k", value=str(i).encode())
    producer.flush()
    producer.close()


def at_log_end(client, position, end):
    """The second member read to the end of the partition, and the partition holds COUNT records:
    nothing arrived beyond them (shown by offsets rather than by waiting for silence)."""
    if position != COUNT or end != COUNT:
        sys.exit(f"{client}: second member stopped at offset {position}, log end {end}, expected both {COUNT}")


def kafka_python(bootstrap, topic, group):
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    first = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False)
    seen = []
    progress = Progress("kafka-python: the first member to read 400 records")
    while len(seen) < 400:
        for messages in first.poll(timeout_ms=1000, max_records=400 - len(seen)).values():
            seen += [int(m.value) for m in messages]
        progress.check(len(seen))
    tp = TopicPartition(topic, 0)
    first.commit({tp: OffsetAndMetadata(400, "checkpoint-a", -1)})
    committed = first.committed(tp, metadata=True)
    first.close()
    second = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                           enable_auto_commit=False)
    rest = []
    progress = Progress(f"kafka-python: the second member to read {COUNT - 400} records")
    while len(rest) < COUNT - 400:
        for messages in second.poll(timeout_ms=1000).values():
            rest += [int(m.value) for m in messages]
        progress.check(len(rest))
    at_log_end("kafka-python", second.position(tp, timeout_ms=60000), second.end_offsets([tp], timeout_ms=60000)[tp])
    second.close()
    admin_checks(bootstrap, topic, group)
    return seen, rest, (committed.offset, committed.metadata)


def admin_checks(bootstrap, topic, group):
    """Group administration through kafka-python's admin client: list, describe, offsets, delete."""
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    listed = admin.list_groups()
    if group not in str(listed):
        sys.exit(f"admin: {group} missing from list_groups: {listed}")
    described = admin.describe_groups([group])
    if "Empty" not in str(described):
        sys.exit(f"admin: {group} described as {described}, expected Empty")
    offsets = admin.list_group_offsets(group)
    offsets = offsets.get(group, offsets)  # kafka-python 3 keys the result by group id
    if offsets.get(TopicPartition(topic, 0)) is None or offsets[TopicPartition(topic, 0)].offset != 400:
        sys.exit(f"admin: committed offsets {offsets}")
    admin.delete_groups([group])
    remaining = admin.list_group_offsets(group)
    if any(remaining.get(group, remaining).values() if isinstance(remaining.get(group, remaining), dict) else remaining):
        sys.exit(f"admin: offsets remain after delete_groups: {remaining}")
    admin.close()


async def aiokafka_groups(bootstrap, topic, group):
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata
    first = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    await first.start()
    seen = []
    progress = Progress("aiokafka: the first member to read 400 records")
    while len(seen) < 400:
        for messages in (await first.getmany(timeout_ms=500, max_records=400 - len(seen))).values():
            seen += [int(m.value) for m in messages]
        progress.check(len(seen))
    tp = TopicPartition(topic, 0)
    await first.commit({tp: OffsetAndMetadata(400, "checkpoint-a")})
    committed = await first.committed(tp)
    await first.stop()
    second = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    await second.start()
    rest = []
    progress = Progress(f"aiokafka: the second member to read {COUNT - 400} records")
    while len(rest) < COUNT - 400:
        for messages in (await second.getmany(timeout_ms=500)).values():
            rest += [int(m.value) for m in messages]
        progress.check(len(rest))
    at_log_end("aiokafka", await second.position(tp), (await second.end_offsets([tp]))[tp])
    await second.stop()
    return seen, rest, (committed, "checkpoint-a")


def confluent(bootstrap, topic, group):
    from confluent_kafka import Consumer, TopicPartition
    config = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    first = Consumer(config)
    first.subscribe([topic])
    seen = []
    progress = Progress("confluent-kafka: the first member to read 400 records")
    while len(seen) < 400:
        message = first.poll(0.5)
        if message is not None and message.error() is None:
            seen.append(int(message.value()))
        progress.check(len(seen))
    first.commit(offsets=[TopicPartition(topic, 0, 400, metadata="checkpoint-a")], asynchronous=False)
    committed = first.committed([TopicPartition(topic, 0)], timeout=60)[0]
    first.close()
    second = Consumer(config)
    second.subscribe([topic])
    rest = []
    progress = Progress(f"confluent-kafka: the second member to read {COUNT - 400} records")
    while len(rest) < COUNT - 400:
        message = second.poll(0.5)
        if message is not None and message.error() is None:
            rest.append(int(message.value()))
        progress.check(len(rest))
    tp = TopicPartition(topic, 0)
    at_log_end("confluent", second.position([tp])[0].offset, second.get_watermark_offsets(tp, timeout=60)[1])
    second.close()
    return seen, rest, (committed.offset, committed.metadata)


def rebalance(bootstrap):
    """Two members split a two-partition topic; when one leaves, the other takes over both."""
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient, NewTopic
    topic, group = f"rebalance-{uuid.uuid4().hex[:8]}", f"rebalance-{uuid.uuid4().hex[:8]}"
    KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([NewTopic(topic, 2, 1)])
    settings = dict(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500)
    first, second = KafkaConsumer(topic, **settings), None

    def wait_for(condition, what):
        deadline = time.time() + 180
        while time.time() < deadline:
            for consumer in (first, second):
                if consumer is not None:
                    consumer.poll(timeout_ms=100)
            if condition():
                return
        sys.exit(f"rebalance: {what}: first {first.assignment()}, second {second.assignment() if second else None}")

    # One process per member in real life; polled in turn here, the first settles before the
    # second arrives (a poll blocks while its member joins).
    wait_for(lambda: len(first.assignment()) == 2, "the first member did not get both partitions")
    second = KafkaConsumer(topic, **settings)
    wait_for(lambda: len(first.assignment()) == 1 and len(second.assignment()) == 1, "the two members did not split the partitions")
    second.close()
    second = None
    wait_for(lambda: len(first.assignment()) == 2, "the remaining member did not take over")
    first.close()
    print("kafka-python: two members split two partitions; after one left, the other took over both: OK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True, choices=["kafka-python", "aiokafka", "confluent", "rebalance"])
    parser.add_argument("--bootstrap", required=True)
    args = parser.parse_args()
    if args.client == "rebalance":
        return rebalance(args.bootstrap)
    topic = f"group-{args.client}-{uuid.uuid4().hex[:8]}"
    group = f"group-{uuid.uuid4().hex[:8]}"
    produce(args.bootstrap, topic)
    if args.client == "kafka-python":
        seen, rest, committed = kafka_python(args.bootstrap, topic, group)
    elif args.client == "aiokafka":
        seen, rest, committed = asyncio.run(aiokafka_groups(args.bootstrap, topic, group))
    else:
        seen, rest, committed = confluent(args.bootstrap, topic, group)
    if seen[:400] != list(range(400)):
        sys.exit(f"{args.client}: first member read {seen[:5]}..., expected 0..399")
    if rest != list(range(400, COUNT)):
        sys.exit(f"{args.client}: second member resumed with {rest[:5]}... ({len(rest)} records), expected 400..{COUNT - 1}")
    if committed != (400, "checkpoint-a"):
        sys.exit(f"{args.client}: committed offset read back as {committed}")
    print(f"{args.client}: group consumed, committed at 400 with metadata, resumed by a new member: OK")


if __name__ == "__main__":
    main()
