#!/usr/bin/env python3
"""Client quotas against `stele serve`: AlterClientQuotas and DescribeClientQuotas (sent with
kafka-python's protocol classes, as its admin client has no quota calls), refusals Kafka gives,
and producers and consumers past their byte rate told to wait (throttle_time_ms, seen in the
clients' own metrics) while every record still arrives.

    quotas.py BOOTSTRAP

Every case prints one line; exit 1 if any failed.
"""
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from progress import Progress

from confluent_kafka import Producer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.protocol.admin import AlterClientQuotasRequest as Alter, DescribeClientQuotasRequest as Describe

bootstrap = sys.argv[1]
failures = 0


def case(name, ok, detail=""):
    global failures
    print(("OK   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures += 1


admin = KafkaAdminClient(bootstrap_servers=bootstrap)


def send(request):
    return admin._manager.run(admin._send_request_to_controller, request)


def alter(entity, ops, validate_only=False):
    entry = Alter.EntryData(entity=[Alter.EntryData.EntityData(entity_type=t, entity_name=n) for t, n in entity],
                            ops=[Alter.EntryData.OpData(key=k, value=float(v), remove=r) for k, v, r in ops])
    return send(Alter(entries=[entry], validate_only=validate_only)).entries[0]


def describe(components=(), strict=False):
    response = send(Describe(components=[Describe.ComponentData(entity_type=t, match_type=m, match=n) for t, m, n in components], strict=strict))
    return response.error_code, {tuple((e.entity_type, e.entity_name) for e in entry.entity): {v.key: v.value for v in entry.values}
                                 for entry in (response.entries or [])}


suffix = uuid.uuid4().hex[:6]
slow_writer, slow_reader = f"slow-writer-{suffix}", f"slow-reader-{suffix}"
case("a producer byte rate for one client id", alter([("client-id", slow_writer)], [("producer_byte_rate", 20000, False)]).error_code == 0)
case("a consumer byte rate for another", alter([("client-id", slow_reader)], [("consumer_byte_rate", 40000, False)]).error_code == 0)
case("a default for every user", alter([("user", None)], [("consumer_byte_rate", 1e9, False)]).error_code == 0)
case("validate only stores nothing", alter([("client-id", "ghost")], [("producer_byte_rate", 5, False)], validate_only=True).error_code == 0)
error, entries = describe()
case("describe lists them", entries.get((("client-id", slow_writer),)) == {"producer_byte_rate": 20000.0}
     and entries.get((("user", None),)) == {"consumer_byte_rate": 1e9} and (("client-id", "ghost"),) not in entries, entries)
error, entries = describe([("user", 1, None)], strict=True)
case("describe the default user only (match type 1, strict)", error == 0 and list(entries) == [(("user", None),)], entries)
# A user quota outranks a client-id one (Kafka's order): the default user's goes again.
case("the default user's quota removed", alter([("user", None)], [("consumer_byte_rate", 0, True)]).error_code == 0)
for name, entity, ops in [("request_percentage is not enforced: INVALID_REQUEST", [("client-id", "x")], [("request_percentage", 50, False)]),
                          ("a rate of 0 is INVALID_REQUEST", [("client-id", "x")], [("producer_byte_rate", 0, False)]),
                          ("an ip entity is INVALID_REQUEST", [("ip", "10.0.0.1")], [("connection_creation_rate", 5, False)]),
                          ("an unknown entity type is INVALID_REQUEST", [("group", "g")], [("producer_byte_rate", 5, False)])]:
    code = alter(entity, ops).error_code
    case(name, code == 42, code)

# A producer past its rate: told to wait, slowed, nothing lost.
topic = f"quota-{suffix}"
value = b"x" * 10_000
producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=slow_writer, linger_ms=0, batch_size=16384, acks="all")
futures = [producer.send(topic, value, partition=0) for _ in range(40)]
offsets = [future.get(300).offset for future in futures]
throttle = producer.metrics()["producer-metrics"]["throttle-time-max"]
producer.close()
case("kafka-python producer past producer_byte_rate is throttled", throttle > 0, throttle)
case("and every record is stored", offsets == list(range(40)), offsets[-3:])
stats = []
free = Producer({"bootstrap.servers": bootstrap, "client.id": f"free-{suffix}", "statistics.interval.ms": 100, "stats_cb": stats.append})
for _ in range(20):
    free.produce(topic, value, partition=0)
free.flush(60)
progress = Progress("a statistics report from confluent-kafka")
while not stats:
    free.poll(0.1)
    progress.check(len(stats))
throttled = max(b["throttle"]["max"] for s in stats for b in json.loads(s)["brokers"].values())
case("a producer under no quota is never throttled (confluent-kafka statistics)", throttled == 0, throttled)

# A consumer past its rate: empty answers with the throttle time until its rate falls back.
consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id=slow_reader, fetch_max_bytes=50_000, max_partition_fetch_bytes=50_000)
consumer.assign([TopicPartition(topic, 0)])
consumer.seek(TopicPartition(topic, 0), 0)
seen = 0
progress = Progress("the throttled consumer to read 60 records")
while seen < 60:
    seen += sum(len(records) for records in consumer.poll(timeout_ms=1000).values())
    progress.check(seen)
throttle = consumer.metrics()["consumer-metrics"]["throttle-time-max"]
consumer.close()
case("kafka-python consumer past consumer_byte_rate is throttled and still reads everything", throttle > 0 and seen == 60, (throttle, seen))

case("a quota removed is gone", alter([("client-id", slow_writer)], [("producer_byte_rate", 0, True)]).error_code == 0
     and (("client-id", slow_writer),) not in describe()[1])
alter([("client-id", slow_reader)], [("consumer_byte_rate", 0, True)])
case("all removed", describe()[1] == {}, describe()[1])
print("quotas: %d failure(s)" % failures)
sys.exit(1 if failures else 0)
