#!/usr/bin/env python3
"""`stele serve --mirror-source`: the mirror inside the target node, and its lag.

A source `stele serve` holds 4,000 records in single-record batches in two partitions; a target
`stele serve --mirror-source SOURCE --mirror-fetch-max-bytes 1` copies one batch per partition
per pass, so it is behind for thousands of passes. Meanwhile the target's /metrics report
`stele_mirror_lag_records` and `stele_mirror_lag_seconds` above zero, and /topics/NAME names
the source, `active` and the lag; once caught up both say 0 and the end offsets are the
source's.

Waits are for progress, never for a fixed time.

usage: mirror_lag.py BIN_DIR
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from progress import Progress

BIN = sys.argv[1]
work = tempfile.mkdtemp(prefix="stele-mirror-lag-")
processes = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def serve(name, *extra):
    kafka, http = free_port(), free_port()
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", os.path.join(work, name), "--kafka-port", str(kafka),
                                "--http-port", str(http), *extra], stdout=log, stderr=log)
    processes.append(process)
    progress = Progress(f"{name} to answer /health")
    while True:
        if process.poll() is not None:
            fail(f"{name} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
            return kafka, http
        except Exception:
            progress.check(0)
            time.sleep(0.05)


def get(http, path, raw=False):
    with urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=60) as response:
        body = response.read()
        return body.decode() if raw else json.loads(body)


try:
    source_kafka, source_http = serve("source")
    bootstrap = f"127.0.0.1:{source_kafka}"
    subprocess.run([os.path.join(BIN, "stele"), "topics", "create", "lagged", "--partitions", "2", "--bootstrap", bootstrap], check=True,
                   capture_output=True)
    records = "".join(f"k{i}:value-{i}\n" for i in range(4000))
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "lagged", "-K:", "-X", "linger.ms=0", "-X", "batch.num.messages=1"],
                   input=records.encode(), check=True)
    source_ends = [p["logEndOffset"] for p in get(source_http, "/topics/lagged")["partitions"]]
    if sum(source_ends) != 4000:
        fail(f"the source holds {source_ends}, not 4000 records")

    _, target_http = serve("target", "--mirror-source", bootstrap, "--mirror-topics", "lagged", "--mirror-fetch-max-bytes", "1")
    most_records, most_seconds = 0, 0.0
    progress = Progress("the mirror inside the target to catch up")
    pattern = re.compile(r'^stele_mirror_lag_(records|seconds)\{topic="lagged"\} (\S+)$', re.M)
    while True:
        metrics = dict((kind, float(value)) for kind, value in pattern.findall(get(target_http, "/metrics", raw=True)))
        most_records = max(most_records, metrics.get("records", 0))
        most_seconds = max(most_seconds, metrics.get("seconds", 0))
        try:
            topic = get(target_http, "/topics/lagged")
        except urllib.error.HTTPError:
            topic = None
        ends = [p["logEndOffset"] for p in topic["partitions"]] if topic else []
        if ends == source_ends and metrics.get("records") == 0:
            break
        progress.check(sum(ends))
        time.sleep(0.01)
    mirror = topic.get("mirror")
    # Caught up, the seconds say how stale the target may be: since the mirror's last look.
    if not (mirror and mirror["lagRecords"] == 0 and isinstance(mirror["lagSeconds"], (int, float)) and mirror["lagSeconds"] >= 0
            and mirror["state"] == "active" and mirror["source"] == bootstrap):
        fail(f"/topics/lagged says mirror {mirror}")
    if "stele_mirror_running 1" not in get(target_http, "/metrics", raw=True):
        fail("stele_mirror_running is not 1")
    if most_records <= 0 or most_seconds <= 0:
        fail(f"the lag was never reported above zero (records {most_records}, seconds {most_seconds})")
    print(f"stele serve --mirror-source: 4000 records copied; lag seen up to {most_records:.0f} records and {most_seconds:.2f} s "
          f"in /metrics, then 0 records in /metrics and /topics: OK")
finally:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
