#!/usr/bin/env python3
"""stele cdc postgres against pg_recvlogical reading the same changes, in the same run.

A private PostgreSQL cluster (wal_level=logical) gets a table and two logical replication
slots (pgoutput) before the rows are written, so both readers have the same changes waiting:
--rows inserts of ~100-byte rows in transactions of --per-transaction rows. The reference is
`pg_recvlogical` streaming them (protocol version 1, the same publication) to /dev/null until
the WAL's end; then `stele cdc postgres --snapshot never` is timed until its checkpoint in Stele
has confirmed the same end: decoded, turned into events, appended durably (fsync) to a
`stele serve` through its HTTP API, with the checkpoint. The ratio is Stele rows/s over
pg_recvlogical rows/s.

usage: bench-cdc.py BIN_DIR [--rows N] [--per-transaction N]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg

parser = argparse.ArgumentParser()
parser.add_argument("bin")
parser.add_argument("--rows", type=int, default=200_000)
parser.add_argument("--per-transaction", type=int, nargs="+", default=[1000, 10])
args = parser.parse_args()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="stele-bench-cdc-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lsn(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


exports = subprocess.run([os.path.join(ROOT, "scripts/postgres-test-cluster.sh"), "start"], check=True, capture_output=True, text=True).stdout
env = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line.startswith("export "))
URL, PGDIR = env["STELE_TEST_POSTGRES_URL"], env["STELE_TEST_POSTGRES_DIR"]
PGBIN = "/usr/lib/postgresql/" + sorted(os.listdir("/usr/lib/postgresql"))[-1] + "/bin"
http = free_port()
stele = subprocess.Popen([os.path.join(args.bin, "stele"), "serve", "--data-dir", os.path.join(work, "data"), "--kafka-port", str(free_port()),
                          "--http-port", str(http)], stdout=open(os.path.join(work, "stele.log"), "ab"), stderr=subprocess.STDOUT)
try:
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5).read()
            break
        except Exception:
            if stele.poll() is not None:
                sys.exit(f"stele serve exited (see {work}/stele.log)")
            time.sleep(0.05)

    results = []
    for per in args.per_transaction:
        rows = args.rows if per >= 100 else args.rows // 10
        table, slot, ref = f"bench_{per}", f"stele_bench_{per}", f"ref_{per}"
        with psycopg.connect(URL, autocommit=True) as db:
            db.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, payload text NOT NULL, v int NOT NULL)")
            db.execute(f"CREATE PUBLICATION {slot} FOR TABLE {table}")
            db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (ref,))
        with psycopg.connect(URL) as db:
            for start in range(0, rows, per):
                db.execute(f"INSERT INTO {table} SELECT g, repeat('x', 90) || g, 0 FROM generate_series(%s::bigint, %s::bigint) g",
                           (start + 1, min(start + per, rows)))
                # The last transaction's commit record starts after this: confirming past it
                # means every transaction is in.
                before_last = db.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
                db.commit()
            end = db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
            db.commit()

        # The reference: pg_recvlogical streams the same changes to /dev/null.
        began = time.monotonic()
        subprocess.run([f"{PGBIN}/pg_recvlogical", "-d", URL, "--slot", ref, "--start", "-o", "proto_version=1", "-o", f"publication_names={slot}",
                        "--endpos", end, "--no-loop", "-f", "/dev/null"], check=True)
        reference = rows / (time.monotonic() - began)

        began = time.monotonic()
        cdc = subprocess.Popen(["env", f"STELE_LOG_LEVEL={os.environ.get('STELE_LOG_LEVEL', 'info')}",os.path.join(args.bin, "stele"), "cdc", "postgres", "--url", URL, "--tables", table, "--slot", slot,
                                "--snapshot", "never", "--target", f"http://127.0.0.1:{http}", "--idle-ms", "5"],
                               stdout=open(os.path.join(work, "cdc.log"), "ab"), stderr=subprocess.STDOUT)
        while True:
            # The capture confirms the slot only after the append that holds the events is durable.
            with psycopg.connect(URL, autocommit=True) as db:
                confirmed = db.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()[0]
            if lsn(confirmed) > lsn(before_last):
                break
            if cdc.poll() is not None:
                sys.exit(f"stele cdc exited (see {work}/cdc.log)")
            time.sleep(0.02)
        elapsed = time.monotonic() - began
        cdc.terminate()
        cdc.wait()
        measured = rows / elapsed
        results.append((per, rows, measured, reference))

    print()
    print("| rows per transaction | rows | stele cdc rows/s | pg_recvlogical rows/s (same changes) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for per, rows, measured, reference in results:
        print(f"| {per} | {rows:,} | {measured:,.0f} | {reference:,.0f} | {measured / reference:.2f}× |")
finally:
    stele.terminate()
    stele.wait()
    subprocess.run([os.path.join(ROOT, "scripts/postgres-test-cluster.sh"), "stop", PGDIR], capture_output=True)
