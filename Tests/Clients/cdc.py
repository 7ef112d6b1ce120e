#!/usr/bin/env python3
"""`stele cdc postgres` under faults, against a PostgreSQL cluster of its own (wal_level=logical):

- two tables (`accounts` with REPLICA IDENTITY FULL, `orders` with a two-column key and the
  default identity) hold rows before the capture starts (the snapshot, read in small chunks);
- a writer runs transfers (two rows in one transaction), inserts, updates, deletes, key changes,
  60-row updates (larger than one append of the capture: split, resumably) and, mid-run, an
  ALTER TABLE ADD COLUMN; meanwhile the capture, Stele and PostgreSQL are each SIGKILLed and
  restarted, several times, at moments chosen by the capture's progress;
- then every row's stream folded equals the table; each change's before-image equals the
  stream's state before it (nothing lost, nothing doubled, no stale snapshot row); every committed
  source transaction has exactly its events (one atomic append: none partial) and no aborted one
  has any; no event id appears twice.

Waits are for progress, never for a fixed time.

usage: cdc.py BIN_DIR
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import psycopg

from progress import Progress

BIN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = tempfile.mkdtemp(prefix="stele-cdc-")
random.seed(int(os.environ.get("STELE_TEST_SEED", "17")))


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A PostgreSQL cluster of this test's own: it is killed.
exports = subprocess.run([os.path.join(ROOT, "scripts/postgres-test-cluster.sh"), "start"], check=True, capture_output=True, text=True).stdout
env = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line.startswith("export "))
URL, PGDIR = env["STELE_TEST_POSTGRES_URL"], env["STELE_TEST_POSTGRES_DIR"]
PGBIN = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
PGBIN = f"/usr/lib/postgresql/{PGBIN}/bin"
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

processes = []
http_port, kafka_port = free_port(), free_port()
stele = None
cdc = None


def cleanup():
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    subprocess.run([os.path.join(ROOT, "scripts/postgres-test-cluster.sh"), "stop", PGDIR], capture_output=True)


def start_stele():
    global stele
    log = open(os.path.join(work, "stele.log"), "ab")
    stele = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", os.path.join(work, "data"), "--kafka-port", str(kafka_port),
                              "--http-port", str(http_port)], stdout=log, stderr=log)
    processes.append(stele)
    progress = Progress("stele to answer /health")
    while True:
        if stele.poll() is not None:
            fail(f"stele serve exited with {stele.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5).read()
            return
        except Exception:
            progress.check(0)
            time.sleep(0.05)


def start_cdc():
    global cdc
    log = open(os.path.join(work, "cdc.log"), "ab")
    cdc = subprocess.Popen([os.path.join(BIN, "stele"), "cdc", "postgres", "--url", URL, "--tables", "accounts,public.orders",
                            "--target", f"http://127.0.0.1:{http_port}", "--chunk-rows", "100", "--max-append-bytes", "20000",
                            "--idle-ms", "20"], stdout=log, stderr=log)
    processes.append(cdc)


def postmaster_pid():
    with open(os.path.join(PGDIR, "data", "postmaster.pid")) as f:
        return int(f.readline())


def kill_postgres():
    pid = postmaster_pid()
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    os.kill(pid, signal.SIGKILL)
    progress = Progress("PostgreSQL's processes to exit after its postmaster was killed")
    while True:
        alive = [c for c in children if os.path.exists(f"/proc/{c}")]
        if not alive and not os.path.exists(f"/proc/{pid}"):
            break
        progress.check(len(alive))
        time.sleep(0.05)
    subprocess.run(AS_POSTGRES + [f"{PGBIN}/pg_ctl", "-D", os.path.join(PGDIR, "data"), "-l", os.path.join(PGDIR, "server.log"),
                                  "-w", "-t", "600", "start"], check=True, capture_output=True)


def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=60) as response:
        return json.loads(response.read())


def checkpoint():
    try:
        page = get("/streams/cdc-checkpoints/stele_cdc?direction=backward&limit=1")
        events = page["events"]
        return (events[0]["steleversion"], events[0]["data"]) if events else (-1, None)
    except Exception:
        return None


# --- the tables and their rows before the capture ---------------------------------------------
with psycopg.connect(URL, autocommit=True) as db:
    db.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL, v int NOT NULL, doc jsonb)")
    db.execute("ALTER TABLE accounts REPLICA IDENTITY FULL")
    db.execute("CREATE TABLE orders (region text, n int, status text NOT NULL, v int NOT NULL, PRIMARY KEY (region, n))")
    db.execute("INSERT INTO accounts SELECT g, 'owner ' || g, 1000, 0, jsonb_build_object('tier', g % 3) FROM generate_series(1, 1500) g")
    db.execute("INSERT INTO orders SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, 'new', 0 FROM generate_series(1, 1000) g")

start_stele()
start_cdc()

# --- the writer ---------------------------------------------------------------------------------
committed = {}    # xid -> events expected
uncertain = {}    # xid -> events expected, the commit's answer lost
aborted = set()
lost_answers = [0]
stop = threading.Event()
writer_error = []
next_order = [100_000]
column_added = threading.Event()


def writer():
    db = None
    rng = random.Random(5)
    while not stop.is_set():
        try:
            if db is None:
                db = psycopg.connect(URL, connect_timeout=5)
                # A commit whose answer was lost is looked up before anything else runs: after
                # a crash PostgreSQL hands out again the ids of transactions it never logged.
                for xid, expected in list(uncertain.items()):
                    try:
                        status = db.execute("SELECT txid_status(%s)", (xid,)).fetchone()[0]
                        db.commit()
                    except psycopg.errors.InvalidParameterValue:   # "in the future": never logged
                        db.rollback()
                        status = None
                    if status == "committed":
                        committed[xid] = expected
                    else:
                        aborted.add(xid)
                    del uncertain[xid]
            cur = db.cursor()
            xid = cur.execute("SELECT txid_current() % 4294967296").fetchone()[0]
            kind = rng.random()
            if kind < 0.35:
                a, b = rng.sample(range(1, 1501), 2)
                amount = rng.randint(1, 50)
                cur.execute("UPDATE accounts SET balance = balance - %s, v = v + 1 WHERE id = %s", (amount, a))
                cur.execute("UPDATE accounts SET balance = balance + %s, v = v + 1 WHERE id = %s", (amount, b))
                expected = 2
            elif kind < 0.5:
                next_order[0] += 1
                cur.execute("INSERT INTO orders VALUES (%s, %s, 'new', 0)", (rng.choice(["eu", "us", "ap"]), next_order[0]))
                expected = 1
            elif kind < 0.7:
                cur.execute("UPDATE orders SET status = 'paid', v = v + 1 WHERE (region, n) = (SELECT region, n FROM orders ORDER BY random() LIMIT 1)")
                expected = cur.rowcount
            elif kind < 0.78:
                cur.execute("DELETE FROM orders WHERE (region, n) = (SELECT region, n FROM orders ORDER BY random() LIMIT 1)")
                expected = cur.rowcount
            elif kind < 0.84:
                # A key change: the row leaves one stream (delete) and starts another (insert).
                next_order[0] += 1
                cur.execute("UPDATE orders SET n = %s, v = v + 1 WHERE (region, n) = (SELECT region, n FROM orders ORDER BY random() LIMIT 1)",
                            (next_order[0],))
                expected = 2 * cur.rowcount
            elif kind < 0.87:
                start = rng.randint(1, 1441)
                cur.execute("UPDATE accounts SET v = v + 1 WHERE id BETWEEN %s AND %s", (start, start + 59))
                expected = 60
            elif kind < 0.9:
                cur.execute("SELECT 1")   # rolled back below: no events
                db.rollback()
                aborted.add(xid)
                committed.pop(xid, None)
                continue
            else:
                if column_added.is_set():
                    cur.execute("UPDATE accounts SET note = %s, v = v + 1 WHERE id = %s", (f"note {rng.randint(0, 99)}", rng.randint(1, 1500)))
                else:
                    cur.execute("UPDATE accounts SET v = v + 1 WHERE id = %s", (rng.randint(1, 1500),))
                expected = 1
            try:
                db.commit()
            except psycopg.OperationalError:
                uncertain[xid] = expected
                lost_answers[0] += 1
                raise
            committed[xid] = expected
            aborted.discard(xid)
        except psycopg.OperationalError:
            try:
                if db is not None:
                    db.close()
            except Exception:
                pass
            db = None
            time.sleep(0.05)
        except Exception as error:   # anything else is the test's own mistake
            writer_error.append(repr(error))
            return


# The writer starts once the slot exists: a transaction committed before it is in the snapshot
# only, not in the stream.
progress = Progress("the capture to create its slot")
while True:
    with psycopg.connect(URL, autocommit=True) as db:
        if db.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'stele_cdc'").fetchone()[0]:
            break
    if cdc.poll() is not None:
        fail(f"stele cdc exited with {cdc.returncode}")
    progress.check(0)
    time.sleep(0.05)
thread = threading.Thread(target=writer)
thread.start()


def wait_for_capture_progress(what):
    """Until the capture's checkpoint has moved on twice (appends have landed since the last fault)."""
    start = checkpoint()
    start_version = start[0] if start else -1
    progress = Progress(f"the capture to append ({what})")
    while True:
        current = checkpoint()
        version = current[0] if current else -1
        if version >= start_version + 2:
            return
        if writer_error:
            fail(f"the writer failed: {writer_error[0]}")
        progress.check(version)
        time.sleep(0.05)


try:
    faults = ["cdc", "stele", "postgres", "cdc", "postgres", "stele", "cdc", "postgres", "stele", "cdc"]
    for index, fault in enumerate(faults):
        wait_for_capture_progress(f"before fault {index + 1}, {fault}")
        if index == 4:
            with psycopg.connect(URL, autocommit=True) as db:
                db.execute("ALTER TABLE accounts ADD COLUMN note text")
            column_added.set()
        if fault == "cdc":
            cdc.send_signal(signal.SIGKILL)
            cdc.wait()
            start_cdc()
        elif fault == "stele":
            stele.send_signal(signal.SIGKILL)
            stele.wait()
            start_stele()
        else:
            kill_postgres()
        print(f"fault {index + 1}: SIGKILL of {fault}, restarted")
    wait_for_capture_progress("after the last fault")
    stop.set()
    thread.join()
    if writer_error:
        fail(f"the writer failed: {writer_error[0]}")

    with psycopg.connect(URL, autocommit=True) as db:
        for xid, expected in uncertain.items():
            status = db.execute("SELECT txid_status(%s)", (xid,)).fetchone()[0]
            if status == "committed":
                committed[xid] = expected
            else:
                aborted.add(xid)
        end_lsn = db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        tables = {
            "accounts": {str(row[0]): {"id": row[0], "owner": row[1], "balance": row[2], "v": row[3], "doc": row[4], "note": row[5]}
                         for row in db.execute("SELECT id, owner, balance, v, doc, note FROM accounts")},
            "orders": {json.dumps([row[0], row[1]], separators=(",", ":")): {"region": row[0], "n": row[1], "status": row[2], "v": row[3]}
                       for row in db.execute("SELECT region, n, status, v FROM orders")},
        }

    def lsn(text):
        high, low = text.split("/")
        return (int(high, 16) << 32) | int(low, 16)

    # Caught up: the capture's checkpoint has passed every transaction the writer committed.
    progress = Progress("the capture to catch up")
    last_commit = max(lsn(e) for e in [end_lsn])
    while True:
        current = checkpoint()
        snapshot_done = current and current[1] and sorted(current[1].get("snapshotted", [])) == ["public.accounts", "public.orders"]
        if snapshot_done and lsn(current[1]["confirm"]) >= last_commit and not current[1].get("partialLSN"):
            break
        with psycopg.connect(URL, autocommit=True) as db:
            # Nothing more to decode once the slot has seen the end of the WAL the writer wrote.
            confirmed = db.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'stele_cdc'").fetchone()[0]
        if snapshot_done and lsn(confirmed) >= last_commit:
            break
        progress.check((current or (None,))[0])
        time.sleep(0.1)

    # --- every event of both categories ----------------------------------------------------------
    streams = {"accounts": {}, "orders": {}}
    ids = set()
    by_transaction = {}
    for category in streams:
        after = ""
        while True:
            page = get(f"/categories/{category}/events?limit=1000&after={urllib.parse.quote(after)}")
            for event in page["events"]:
                if event["id"] in ids:
                    fail(f"event id {event['id']} appears twice")
                ids.add(event["id"])
                streams[category].setdefault(event["subject"], []).append(event)
                tx = event["data"]["source"].get("txId")
                if tx is not None:
                    by_transaction[tx] = by_transaction.get(tx, 0) + 1
            if not page["events"]:
                break
            after = page["next"]

    def row(after, category):
        if after is None:
            return None
        keys = ["id", "owner", "balance", "v", "doc", "note"] if category == "accounts" else ["region", "n", "status", "v"]
        row = {k: after.get(k) for k in keys}
        if row.get("doc") is not None:
            row["doc"] = json.loads(row["doc"])   # jsonb comes as its text, exactly
        return row

    checked = 0
    for category, table in tables.items():
        for stream, events in streams[category].items():
            events.sort(key=lambda e: e["steleversion"])
            if [e["steleversion"] for e in events] != list(range(len(events))):
                fail(f"{category}/{stream}: versions {[e['steleversion'] for e in events]} are not contiguous")
            state = None
            for event in events:
                data = event["data"]
                op = data["op"]
                if op == "r":
                    # A snapshot row lands after every change its snapshot saw: it equals the
                    # stream's state then (or starts it).
                    if state is not None and row(data["after"], category) != state:
                        fail(f"{category}/{stream}: snapshot row {data['after']} does not equal the stream's state {state} (stale)")
                    state = row(data["after"], category)
                    continue
                before = row(data["before"], category) if data["before"] is not None else None
                if category == "accounts" and op in ("u", "d") and state is not None and before != state:
                    fail(f"{category}/{stream} v{event['steleversion']}: before {before} is not the state {state}: a change lost or doubled")
                if category == "orders" and op == "u" and state is not None and data["after"]["v"] != state["v"] + 1:
                    fail(f"{category}/{stream} v{event['steleversion']}: v goes {state['v']} → {data['after']['v']}: a change lost or doubled")
                if op == "c" and state is not None:
                    fail(f"{category}/{stream}: an insert into a live row")
                state = None if op == "d" else row(data["after"], category)
                checked += 1
            expected = table.get(stream)
            if state != expected:
                fail(f"{category}/{stream}: folded {state}, the table holds {expected}")
        missing = set(table) - set(streams[category])
        if missing:
            fail(f"{category}: {len(missing)} rows have no stream, e.g. {sorted(missing)[:3]}")

    for xid, expected in committed.items():
        if by_transaction.get(xid, 0) != expected:
            fail(f"transaction {xid}: {by_transaction.get(xid, 0)} events, it made {expected} changes")
    for xid in aborted:
        if xid in by_transaction:
            fail(f"aborted transaction {xid} has {by_transaction[xid]} events")
    extra = set(by_transaction) - set(committed)
    if extra:
        fail(f"{len(extra)} transactions have events but were not written by the test: {sorted(extra)[:5]}")
    snapshot_rows = sum(1 for c in streams.values() for evs in c.values() for e in evs if e["data"]["op"] == "r")
    print(f"cdc: {len(committed)} committed transactions ({sum(committed.values())} changes, {lost_answers[0]} with a lost commit answer), "
          f"{len(aborted)} aborted, {snapshot_rows} snapshot rows, {checked} changes checked against the stream's state, "
          f"{len(tables['accounts'])} + {len(tables['orders'])} rows folded equal, after {len(faults)} SIGKILLs (capture, Stele, PostgreSQL): OK")
finally:
    stop.set()
    cleanup()
