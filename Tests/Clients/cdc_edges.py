#!/usr/bin/env python3
"""`stele cdc postgres` at its edges, against a PostgreSQL cluster of its own:

- rows larger than one append allows in one snapshot chunk, and one transaction larger than
  one append: split over several appends, every row in its stream once;
- a row larger than any append: the capture stops with the reason (exit status 1);
- REPLICA IDENTITY NOTHING: refused at start, nothing created;
- the slot dropped under a stopped capture: refused at the next start, no slot made anew;
- the database's TimeZone changed between runs: a timestamptz key names the same stream;
- a table dropped and created again: read again;
- only other tables change: the slot is confirmed onwards all the same (WAL is not held).

usage: cdc_edges.py BIN_DIR
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import psycopg

from progress import Progress

BIN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = tempfile.mkdtemp(prefix="stele-cdc-edges-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


exports = subprocess.run([os.path.join(ROOT, "scripts/postgres-test-cluster.sh"), "start"], check=True, capture_output=True, text=True).stdout
env = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line.startswith("export "))
URL, PGDIR = env["STELE_TEST_POSTGRES_URL"], env["STELE_TEST_POSTGRES_DIR"]
http = free_port()
stele = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", os.path.join(work, "data"), "--kafka-port", str(free_port()),
                          "--http-port", str(http)], stdout=open(os.path.join(work, "stele.log"), "ab"), stderr=subprocess.STDOUT)
captures = []


def sql(statement, *args):
    with psycopg.connect(URL, autocommit=True) as db:
        cursor = db.execute(statement, args or None)
        return cursor.fetchall() if cursor.description else None


def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=60) as response:
        return json.loads(response.read())


def capture(slot, tables, *extra):
    log = open(os.path.join(work, f"{slot}.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "cdc", "postgres", "--url", URL, "--tables", tables, "--slot", slot,
                                "--target", f"http://127.0.0.1:{http}", "--idle-ms", "20", *extra], stdout=log, stderr=log)
    captures.append(process)
    return process


def log_of(slot):
    with open(os.path.join(work, f"{slot}.log")) as f:
        return f.read()


def stopped(process, slot, reason):
    """The capture exits with status 1, naming the reason."""
    progress = Progress(f"the {slot} capture to stop ({reason})")
    while process.poll() is None:
        progress.check(0)
        time.sleep(0.05)
    if process.returncode != 1 or reason not in log_of(slot):
        fail(f"{slot}: exit {process.returncode}, expected 1 naming '{reason}': {log_of(slot)[-400:]}")


def streams(category):
    found = {}
    after = ""
    while True:
        page = get(f"/categories/{category}/events?limit=1000&after={urllib.parse.quote(after)}")
        for event in page["events"]:
            found.setdefault(event["subject"], []).append(event)
        if not page["events"]:
            return found
        after = page["next"]


def wait_for(what, condition, process=None):
    progress = Progress(what)
    while True:
        value = condition()
        if value is True:
            return
        if process is not None and process.poll() is not None:
            fail(f"the capture exited with {process.returncode} waiting for {what}")
        progress.check(value)
        time.sleep(0.05)


try:
    progress = Progress("stele to answer /health")
    while True:
        try:
            get("/health")
            break
        except Exception:
            progress.check(0)
            time.sleep(0.05)

    # Big rows: 1500 rows of 1 KiB in chunks of 1000 (a chunk is more than one append), then one
    # transaction of two 440 KB rows (each fits an append, the two do not).
    sql("CREATE TABLE big (id int PRIMARY KEY, body text NOT NULL)")
    sql("INSERT INTO big SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, 1500) g")
    big = capture("edges_big", "big")
    wait_for("the big snapshot", lambda: len(streams("big")) == 1500 or len(streams("big")), big)
    with psycopg.connect(URL) as db:
        db.execute("INSERT INTO big VALUES (2001, repeat('a', 440000)), (2002, repeat('b', 440000))")
        db.commit()
    wait_for("the two big rows", lambda: len(streams("big")) == 1502 or len(streams("big")), big)
    found = streams("big")
    doubled = [s for s, events in found.items() if len(events) != 1]
    if doubled:
        fail(f"big: streams with other than one event: {doubled[:5]}")
    print("rows larger than an append: a 1500-row snapshot chunk and a two-row transaction split, each row once: OK")

    # A row larger than any append: a clear stop.
    with psycopg.connect(URL) as db:
        db.execute("INSERT INTO big VALUES (3001, repeat('c', 2000000))")
        db.commit()
    stopped(big, "edges_big", "more than --max-append-bytes")
    print("a row larger than any append: the capture stops with the reason: OK")

    # REPLICA IDENTITY NOTHING: refused, and no slot made.
    sql("CREATE TABLE nothing (id int PRIMARY KEY, v int)")
    sql("ALTER TABLE nothing REPLICA IDENTITY NOTHING")
    stopped(capture("edges_nothing", "nothing"), "edges_nothing", "REPLICA IDENTITY NOTHING")
    if sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'edges_nothing'")[0][0] != 0:
        fail("a refused capture left a slot behind")
    print("REPLICA IDENTITY NOTHING: refused at start, no slot left: OK")

    # A timestamptz key across a TimeZone change, and a table created again.
    sql("CREATE TABLE stamped (at timestamptz PRIMARY KEY, v int)")
    sql("INSERT INTO stamped VALUES ('2024-01-01 00:00:00+00', 1)")
    sql("CREATE TABLE again (id int PRIMARY KEY, v int)")
    sql("INSERT INTO again VALUES (1, 1)")
    first = capture("edges_tz", "stamped,again")
    wait_for("the stamped and again snapshots", lambda: (len(streams("stamped")), len(streams("again"))) == (1, 1) or
             (len(streams("stamped")), len(streams("again"))), first)
    first.kill()
    first.wait()
    sql("ALTER DATABASE postgres SET timezone = 'Asia/Tokyo'")
    sql("UPDATE stamped SET v = 2")
    sql("DROP TABLE again")
    sql("CREATE TABLE again (id int PRIMARY KEY, v int)")
    sql("INSERT INTO again VALUES (2, 2)")
    second = capture("edges_tz", "stamped,again")
    wait_for("the update after the TimeZone change", lambda: sum(len(e) for e in streams("stamped").values()) == 2 or
             sum(len(e) for e in streams("stamped").values()), second)
    if list(streams("stamped")) != ["2024-01-01 00:00:00+00"]:
        fail(f"stamped: streams {list(streams('stamped'))}, expected one named in UTC")
    wait_for("the re-created table's row", lambda: "2" in streams("again") or len(streams("again")), second)
    # Dropped and created again while the capture runs (a DROP sends nothing through the slot).
    sql("DROP TABLE again")
    sql("CREATE TABLE again (id int PRIMARY KEY, v int)")
    sql("INSERT INTO again VALUES (3, 3)")
    wait_for("the table re-created under a running capture to be read again", lambda: "3" in streams("again") or len(streams("again")), second)
    print("a TimeZone change keeps a timestamptz key's stream; a re-created table is read again (stopped or running): OK")

    # Only other tables change: the slot is confirmed onwards.
    sql("CREATE TABLE other (id int PRIMARY KEY, body text)")
    before = sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'edges_tz'")[0][0]
    sql("INSERT INTO other SELECT g, repeat('x', 1000) FROM generate_series(1, 20000) g")
    end = sql("SELECT pg_current_wal_lsn()")[0][0]
    wait_for("the slot to move on while only another table changes",
             lambda: sql("SELECT confirmed_flush_lsn >= %s::pg_lsn - 4194304 - 65536 FROM pg_replication_slots WHERE slot_name = 'edges_tz'", str(end))[0][0]
             or str(sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'edges_tz'")[0][0]), second)
    print(f"only another table changing: the slot moves on from {before} towards {end}: OK")

    # The slot dropped under a stopped capture: refused, and not made anew.
    second.kill()
    second.wait()
    # The killed capture's server session may still be reading the slot (PostgreSQL learns of
    # a vanished client only when it next writes to it): ended, and waited for, before the drop.
    progress = Progress("the killed capture's session to let go of the slot")
    while True:
        holder = sql("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'edges_tz' AND active")
        if not holder:
            break
        sql("SELECT pg_terminate_backend(%s)", holder[0][0])
        progress.check(holder[0][0])
        time.sleep(0.05)
    sql("SELECT pg_drop_replication_slot('edges_tz')")
    stopped(capture("edges_tz", "stamped,again"), "edges_tz", "is gone")
    if sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'edges_tz'")[0][0] != 0:
        fail("a refused capture made the dropped slot anew")
    print("a dropped slot: the capture refuses to go on and makes none: OK")
finally:
    for process in captures + [stele]:
        if process.poll() is None:
            process.kill()
            process.wait()
    subprocess.run([os.path.join(ROOT, "scripts/postgres-test-cluster.sh"), "stop", PGDIR], capture_output=True)
