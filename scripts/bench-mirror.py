#!/usr/bin/env python3
"""stele mirror against the source's own fetch bandwidth, in the same run, on loopback.

A source `stele serve` is filled with --megabytes of 1 KiB records in --partitions partitions
(confluent-kafka, linger 5 ms, so batches of some hundred records). The reference is the
source's fetch bandwidth as a C client gets it: kcat (librdkafka) reading all of it from the
beginning to the end; then `stele mirror` copies it into a second `stele serve` and is timed until the
target's end offsets equal the source's. The ratio is mirror MB/s over consumer MB/s; a target
of 0.8× is issue 18's.

usage: bench-mirror.py BIN_DIR [--megabytes N] [--partitions N]
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("bin")
parser.add_argument("--megabytes", type=int, default=100)
parser.add_argument("--partitions", type=int, default=4)
parser.add_argument("--flush", default="always")
args = parser.parse_args()

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="stele-bench-mirror-")
processes = []


def serve(name):
    kafka, http = free_port(), free_port()
    process = subprocess.Popen([os.path.join(args.bin, "stele"), "serve", "--data-dir", os.path.join(work, name), "--kafka-port", str(kafka),
                                "--http-port", str(http), "--flush", args.flush], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(process)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
            return f"127.0.0.1:{kafka}"
        except Exception:
            if process.poll() is not None:
                sys.exit(f"{name} did not start")
            time.sleep(0.05)


def ends(bootstrap):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ends"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition("bench", p), timeout=30)[1] for p in range(args.partitions)]
    except Exception:
        return None
    finally:
        consumer.close()


try:
    source, target = serve("source"), serve("target")
    admin = AdminClient({"bootstrap.servers": source})
    for future in admin.create_topics([NewTopic("bench", args.partitions, 1)]).values():
        future.result()
    records = args.megabytes * 1024
    value = b"x" * 1024
    producer = Producer({"bootstrap.servers": source, "linger.ms": 5, "batch.num.messages": 10000, "queue.buffering.max.messages": 1_000_000})
    for i in range(records):
        while True:
            try:
                producer.produce("bench", value=value, partition=i % args.partitions)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(300)
    wanted = ends(source)
    total = sum(wanted)

    # The reference: librdkafka's consumer (kcat, in C) reading everything from the source.
    started = time.perf_counter()
    subprocess.run(["kcat", "-b", source, "-C", "-t", "bench", "-o", "beginning", "-e", "-q", "-f", "%o\n",
                    "-X", "fetch.max.bytes=1048576"], stdout=subprocess.DEVNULL, check=True, timeout=600)
    reference = args.megabytes / (time.perf_counter() - started)

    started = time.perf_counter()
    mirror = subprocess.Popen([os.path.join(args.bin, "stele"), "mirror", "--source", source, "--target", target, "--topics", "bench",
                               "--idle-ms", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(mirror)
    while ends(target) != wanted:
        if mirror.poll() is not None:
            sys.exit("stele mirror exited")
        time.sleep(0.05)
    copied = args.megabytes / (time.perf_counter() - started)
    print(f"{args.megabytes} MB of 1 KiB records in {args.partitions} partitions, flush={args.flush}")
    print()
    print("| kcat reading the source MB/s (reference) | stele mirror MB/s | ratio |")
    print("| ---------------------------------------- | ----------------- | ----- |")
    print(f"| {reference:.1f} | {copied:.1f} | {copied / reference:.2f}× |")
finally:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
