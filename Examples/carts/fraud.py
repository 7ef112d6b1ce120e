#!/usr/bin/env python3
"""The fraud/notification service of the shopping-cart example: a kafka-python consumer in the
consumer group "fraud", reading the `carts` topic straight over the Kafka protocol.

A checkout of more than LIMIT units raises an alert. Results and the offsets they come from are
written in one SQLite transaction per poll, and on (re)assignment the consumer seeks to the
offsets in its own database: killed at any moment, it neither loses nor repeats an event. It
also commits the offsets to the group, so `stele groups describe fraud` and `/groups/fraud` show
its lag.

    python3 Examples/carts/fraud.py --bootstrap 127.0.0.1:9092 --db fraud.sqlite
"""
import argparse, json, signal, sqlite3, sys
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

LIMIT = 40


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--db", default="fraud.sqlite")
    parser.add_argument("--topic", default="carts")
    args = parser.parse_args()

    # kafka-python calls the rebalance listener on its own thread, while poll() waits in ours.
    db = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS progress (partition INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS seen (type TEXT PRIMARY KEY, events INTEGER NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS alerts (cart TEXT PRIMARY KEY, units INTEGER NOT NULL, partition INTEGER, offset INTEGER)")

    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id="fraud", enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id="fraud")

    class FromOwnOffsets(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            for partition in assigned:
                row = db.execute("SELECT next_offset FROM progress WHERE partition = ?", (partition.partition,)).fetchone()
                consumer.seek(partition, row[0] if row else 0)

    consumer.subscribe([args.topic], listener=FromOwnOffsets())
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    print("fraud: consuming", args.topic, flush=True)
    while running[0]:
        batches = consumer.poll(timeout_ms=200)
        if not batches:
            continue
        db.execute("BEGIN IMMEDIATE")
        commits = {}
        for partition, records in batches.items():
            for record in records:
                headers = dict(record.headers or [])
                kind = headers.get("stele.type", b"").decode() or "unknown"
                db.execute("INSERT INTO seen VALUES (?, 1) ON CONFLICT (type) DO UPDATE SET events = events + 1", (kind,))
                if kind == "CartCheckedOut":
                    units = sum(json.loads(record.value)["items"].values())
                    if units > LIMIT:
                        db.execute("INSERT INTO alerts VALUES (?, ?, ?, ?)", (record.key.decode(), units, partition.partition, record.offset))
                        print(f"fraud: cart {record.key.decode()} checked out {units} units", flush=True)
            last = records[-1].offset + 1
            db.execute("INSERT INTO progress VALUES (?, ?) ON CONFLICT (partition) DO UPDATE SET next_offset = excluded.next_offset",
                       (partition.partition, last))
            commits[partition] = OffsetAndMetadata(last, "", -1)
        db.execute("COMMIT")
        consumer.commit(commits)
    consumer.close()


if __name__ == "__main__":
    sys.exit(main())
