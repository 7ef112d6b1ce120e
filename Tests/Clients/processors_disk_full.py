#!/usr/bin/env python3
"""A full disk under a processor: `stele serve --views` runs a window processor (per account and
minute of event time, every window written) and an interval join with its data directory on a
small real filesystem. The disk is filled while events are appended: appends start failing with
an error the client sees; the processors, whose outputs and checkpoints meet the full disk too,
show `failed` with the reason and retry by themselves. Once space is freed — no restart — they
catch up, and at the end every output equals what this test computes from the events whose
appends were acknowledged, each exactly once.

usage: processors_disk_full.py BIN_DIR DATA_DIR FILLER_PATH   (DATA_DIR on the small filesystem)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from progress import Progress

BIN, DATA, FILLER = sys.argv[1], sys.argv[2], sys.argv[3]
work = tempfile.mkdtemp(prefix="stele-processors-disk-full-")
defs = os.path.join(work, "defs")
process = None
passed = False

WINDOWS = """-- @processor per_minute
-- @output per-minute
-- @event-type MinuteTotal
-- @out-of-order 30 seconds
SELECT stream_id AS account, window_start, COUNT(*) AS n, SUM(data.amount) AS total
FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))
GROUP BY stream_id, window_start, window_end
"""

PAIRS = """-- @processor close_pairs
-- @output close-pairs
-- @out-of-order 30 seconds
SELECT a.stream_id AS account, a.data.n AS first, b.data.n AS second
FROM accounts a JOIN accounts b ON a.stream_id = b.stream_id
 AND b.occurred_at BETWEEN a.occurred_at + INTERVAL '1' MILLISECOND AND a.occurred_at + INTERVAL '20' SECONDS
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


http = free_port()
url = f"http://127.0.0.1:{http}"


def request(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, method=method, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def category(name):
    found, after = [], ""
    while True:
        page = request("GET", f"/categories/{name}/events?limit=1000&after={after}")
        found += page["events"]
        if not page["events"]:
            return found
        after = page["next"]


base = 1_790_000_000_000 // 60_000 * 60_000
accounts = [f"acct-{i}" for i in range(3)]
acked = []   # (account, n, amount, at) of every acknowledged append


def append(n):
    """Appends event n; True when acknowledged, False when refused (the disk is full)."""
    account, amount, at = accounts[n % 3], 10 + n % 90, base + n * 4_000
    try:
        request("POST", f"/streams/accounts/{account}", {"type": "Paid", "data": {"amount": amount, "n": n}, "occurredAt": str(at)})
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        if error.code >= 500 or error.code == 507:
            return False, f"{error.code} {body}"
        fail(f"append {n} refused with {error.code}: {body}")
    acked.append((account, n, amount, at))
    return True, None


def status(name):
    return request("GET", f"/processors/{name}")


try:
    os.makedirs(defs)
    with open(os.path.join(defs, "per_minute.sql"), "w") as f:
        f.write(WINDOWS)
    with open(os.path.join(defs, "close_pairs.sql"), "w") as f:
        f.write(PAIRS)
    log = open(os.path.join(work, "serve.log"), "ab")
    process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", DATA, "--views", defs, "--kafka-port", "0",
                                "--http-port", str(http)], stdout=log, stderr=log)
    progress = Progress("the server to answer /health")
    while True:
        if process.poll() is not None:
            fail(f"the server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "/health", timeout=5).read()
            break
        except Exception:
            progress.check(0)
            time.sleep(0.05)

    n = 0
    for _ in range(300):
        ok, why = append(n)
        if not ok:
            fail(f"an append failed before the disk was filled: {why}")
        n += 1
    progress = Progress("the processors to catch up before the disk fills")
    while not all(status(p).get("lag") == 0 and status(p).get("eventsRead", 0) >= 300 for p in ("per_minute", "close_pairs")):
        progress.check([status(p).get("eventsRead") for p in ("per_minute", "close_pairs")])
        time.sleep(0.05)

    # Leave about 256 KiB: the next appends and outputs meet a full disk.
    stat = os.statvfs(os.path.dirname(FILLER))
    free = stat.f_bavail * stat.f_frsize
    with open(FILLER, "wb") as filler:
        os.posix_fallocate(filler.fileno(), 0, max(0, free - 256 * 1024))
    refusal = None
    while refusal is None:
        ok, why = append(n)
        n += 1
        if not ok:
            refusal = why
        if n > 100_000:
            fail("the disk never filled")
    print(f"disk full after {len(acked)} acknowledged appends; the refusal: {refusal[:160]}")
    # The processors meet it too: they say so, and keep the server up.
    progress = Progress("a processor to report the full disk")
    while True:
        states = {p: status(p) for p in ("per_minute", "close_pairs")}
        failed = [s for s in states.values() if s.get("state") == "failed"]
        if failed:
            print(f"ok: processor {failed[0]['name']} failed with: {failed[0].get('lastError', '')[:160]}")
            break
        # An append now and then (each refused, or taken if space came back).
        ok, _ = append(n)
        n += 1
        progress.check([(s.get("state"), s.get("eventsRead"), s.get("windowsWritten")) for s in states.values()])
        time.sleep(0.2)
    if process.poll() is not None:
        fail("the server died of a full disk")

    os.remove(FILLER)
    # Space is back: more events, then one far ahead that closes every window; no restart.
    progress = Progress("appends to be taken again")
    taken = 0
    while taken < 50:
        ok, _ = append(n)
        n += 1
        taken += 1 if ok else 0
        progress.check(len(acked))
    last = (accounts[0], n, 0, base + 86_400_000)
    request("POST", f"/streams/accounts/{last[0]}", {"type": "Paid", "data": {"amount": 0, "n": n}, "occurredAt": str(last[3])})

    windows = {}
    for account, _, amount, at in acked:
        start = at // 60_000 * 60_000
        count, total = windows.get((account, start), (0, 0))
        windows[(account, start)] = (count + 1, total + amount)
    pairs = set()
    by_account = {}
    for account, number, _, at in acked:
        by_account.setdefault(account, []).append((number, at))
    for account, rows in by_account.items():
        for first, first_at in rows:
            for second, second_at in rows:
                if 1 <= second_at - first_at <= 20_000:
                    pairs.add((account, first, second))

    def iso(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"

    want_windows = {(a, iso(s)): v for (a, s), v in windows.items()}
    progress = Progress("the processors to catch up after the disk was freed")
    while True:
        minutes = [(e["data"]["account"], e["data"]["window_start"], e["data"]["n"], e["data"]["total"]) for e in category("per-minute")]
        found_pairs = [(e["data"]["account"], e["data"]["first"], e["data"]["second"]) for e in category("close-pairs")]
        if len(minutes) >= len(want_windows) and len(found_pairs) >= len(pairs):
            break
        progress.check((len(minutes), len(found_pairs), [status(p).get("state") for p in ("per_minute", "close_pairs")]))
        time.sleep(0.1)
    got_windows = {(a, s): (c, t) for a, s, c, t in minutes}
    if len(got_windows) != len(minutes):
        fail("a window was written twice")
    if got_windows != want_windows:
        fail(f"windows differ from the ones computed from the acknowledged appends: {sorted(set(got_windows.items()) ^ set(want_windows.items()))[:5]}")
    if len(set(found_pairs)) != len(found_pairs) or set(found_pairs) != pairs:
        fail(f"pairs differ from the ones computed from the acknowledged appends: {sorted(set(found_pairs) ^ pairs)[:5]}")
    for name in ("per_minute", "close_pairs"):
        if status(name).get("state") != "running":
            fail(f"{name} after the disk was freed: {status(name)}")
        if category(f"{name}-dead-letters"):
            fail(f"{name} wrote dead letters: {category(f'{name}-dead-letters')[:2]}")
    print(f"ok: after a full disk and no restart, {len(minutes)} windows and {len(found_pairs)} pairs from {len(acked)} acknowledged "
          f"appends, each written once and equal to the ones computed here")
    process.send_signal(signal.SIGTERM)
    if process.wait() != 0:
        fail("the server did not stop cleanly")
    print("processors_disk_full: PASS")
    passed = True
finally:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
    if passed:
        shutil.rmtree(work, ignore_errors=True)
