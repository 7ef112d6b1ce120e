#!/usr/bin/env python3
"""Processors declared in SQL, run by `stele serve --views DIR`, end to end.

A directory holds a processor file (withdrawal bursts: per account and 10 minutes of event
time, the withdrawals' count and sum, kept when the sum passes 1,000), a view folding its
outputs into a table, and a broken processor file. The test:

- checks `stele processors check` names the broken file and line, and that the server reports
  it and runs the rest;
- appends 1,200 account events over HTTP with event times up to 30 s out of order, SIGKILLs the
  server halfway and restarts it, then appends the rest;
- computes the bursts itself from the events it appended and compares them exactly with the
  output category: each window once, with its count and sum, and the view's table;
- rebuilds with `stele processors rebuild`: every window written again (a new generation, new
  ids), the view unchanged;
- changes the definition and restarts: the processor rebuilds by itself under the new one;
- runs a MATCH_RECOGNIZE absence (authorizations not settled within 15 minutes) and an interval
  join (authorizations paired with their settlement within 15 minutes, the category joined with
  itself) across the same SIGKILL, and compares their outputs with the ones computed here.

Waits are for progress, never for a fixed time.

usage: processors.py BIN_DIR
"""
import json
import os
import random
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

BIN = sys.argv[1]
work = tempfile.mkdtemp(prefix="stele-processors-")
defs = os.path.join(work, "defs")
data = os.path.join(work, "data")
processes = []
passed = False

PROCESSOR = """-- Withdrawal bursts: per account and 10 minutes of event time.
-- @processor withdrawal_bursts
-- @output bursts
-- @event-type WithdrawalBurst
-- @out-of-order 1 minute
SELECT stream_id AS account, window_start, window_end, COUNT(*) AS withdrawals, SUM(data.amount) AS total
FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '10' MINUTES))
WHERE type = 'MoneyWithdrawn'
GROUP BY stream_id, window_start, window_end
HAVING SUM(data.amount) > THRESHOLD
"""

VIEW = """-- @view burst_alerts
-- @categories bursts
CREATE TABLE burst_alerts (account TEXT NOT NULL, window_start TEXT NOT NULL, withdrawals INTEGER NOT NULL, total INTEGER NOT NULL,
                           PRIMARY KEY (account, window_start));
-- @on WithdrawalBurst (account text, window_start text, withdrawals integer, total integer)
INSERT OR REPLACE INTO burst_alerts VALUES (:data.account, :data.window_start, :data.withdrawals, :data.total);
"""

# An absence across a SIGKILL: an authorization not settled within 15 minutes of event time.
UNSETTLED = """-- @processor unsettled
-- @output unsettled-alerts
-- @event-type AuthorizationNotSettled
-- @out-of-order 1 minute
SELECT *
FROM cards
MATCH_RECOGNIZE (
    PARTITION BY stream_id
    ORDER BY occurred_at
    MEASURES A.data.authorization AS authorization, A.occurred_at AS authorizedAt
    PATTERN (A !S) WITHIN INTERVAL '15' MINUTES
    DEFINE A AS A.type = 'CardAuthorized',
           S AS S.type = 'AuthorizationSettled' AND S.data.authorization = A.data.authorization
)
"""

# An interval join across the same SIGKILL: each authorization with its settlement within 15
# minutes (the category joined with itself, keyed by the authorization).
SETTLED = """-- @processor settled_in_time
-- @output settled-in-time
-- @event-type SettledInTime
-- @out-of-order 1 minute
SELECT a.data.authorization AS authorization, a.stream_id AS card, s.occurred_at AS settledAt
FROM cards a
JOIN cards s ON s.data.authorization = a.data.authorization
 AND s.occurred_at BETWEEN a.occurred_at AND a.occurred_at + INTERVAL '15' MINUTES
WHERE a.type = 'CardAuthorized' AND s.type = 'AuthorizationSettled'
"""

BROKEN = """-- @processor broken
SELECT window_start, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '1' MINUTE))
WHERE amount > 3
GROUP BY window_start, window_end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def stele(*args, check=True):
    result = subprocess.run([os.path.join(BIN, "stele"), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        fail(f"stele {' '.join(args)} exited {result.returncode}: {result.stdout}{result.stderr}")
    return result


class Server:
    def __init__(self):
        self.http = free_port()
        self.log = os.path.join(work, "serve.log")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", data, "--views", defs, "--kafka-port", "0",
                                             "--http-port", str(self.http)], stdout=log, stderr=log)
        processes.append(self.process)
        self.url = f"http://127.0.0.1:{self.http}"
        progress = Progress("the server to answer /health")
        while True:
            if self.process.poll() is not None:
                fail(f"the server exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=5).read()
                return
            except Exception:
                progress.check(0)
                time.sleep(0.05)

    def request(self, method, path, body=None):
        request = urllib.request.Request(self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait() != 0:
            fail("the server did not stop cleanly")


def bursts_expected(events, threshold):
    """The same aggregation, computed here: per account and 10-minute window, withdrawals only."""
    windows = {}
    for account, kind, amount, at in events:
        if kind != "MoneyWithdrawn":
            continue
        start = at // 600_000 * 600_000
        count, total = windows.get((account, start), (0, 0))
        windows[(account, start)] = (count + 1, total + amount)
    return {key: value for key, value in windows.items() if value[1] > threshold}


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def outputs(server):
    """Every event of the bursts category: (account, window_start) -> list of (withdrawals, total, id)."""
    found, after = {}, ""
    while True:
        page = server.request("GET", f"/categories/bursts/events?limit=1000&after={after}")
        for event in page["events"]:
            if event["type"] != "WithdrawalBurst":
                fail(f"an output of type {event['type']}")
            member = event["data"]
            found.setdefault((member["account"], member["window_start"]), []).append((member["withdrawals"], member["total"], event["id"]))
        if not page["events"]:
            return found
        after = page["next"]


def wait_caught_up(server, generation, expected_count):
    """Until the processor has read every event in `generation` and written `expected_count`."""
    progress = Progress(f"the processor to catch up in generation {generation}")
    while True:
        status = server.request("GET", "/processors/withdrawal_bursts")
        written = sum(len(v) for v in outputs(server).values())
        if written > expected_count:
            fail(f"{written} outputs, more than the {expected_count} expected: {status}")
        if status.get("generation") == generation and status.get("lag") == 0 and written == expected_count:
            return status
        progress.check((status.get("eventsRead"), written, status.get("generation")))
        time.sleep(0.05)


def compare(found, expected, copies):
    for (account, start), (count, total) in expected.items():
        got = found.get((account, iso(start)), [])
        if len(got) != copies or any((c, t) != (count, total) for c, t, _ in got):
            fail(f"window {account} {iso(start)}: expected {copies} x {(count, total)}, found {got}")
    extra = set(found) - {(account, iso(start)) for account, start in expected}
    if extra:
        fail(f"windows written that should not be: {sorted(extra)[:5]}")
    ids = [i for entries in found.values() for _, _, i in entries]
    if len(ids) != len(set(ids)):
        fail("two outputs share an event id")


def view_rows(server):
    rows = server.request("POST", "/views/burst_alerts/query", {"sql": "SELECT account, window_start, withdrawals, total FROM burst_alerts"})["rows"]
    return {(r["account"], r["window_start"]): (r["withdrawals"], r["total"]) for r in rows}


def wait_view(server, expected):
    want = {(account, iso(start)): value for (account, start), value in expected.items()}
    progress = Progress("the view to fold the bursts")
    while True:
        rows = view_rows(server)
        if rows == want:
            return
        progress.check(len(rows))
        time.sleep(0.05)


try:
    os.makedirs(defs)
    with open(os.path.join(defs, "bursts.sql"), "w") as f:
        f.write(PROCESSOR.replace("THRESHOLD", "1000"))
    with open(os.path.join(defs, "burst_alerts.sql"), "w") as f:
        f.write(VIEW)
    with open(os.path.join(defs, "broken.sql"), "w") as f:
        f.write(BROKEN)
    with open(os.path.join(defs, "unsettled.sql"), "w") as f:
        f.write(UNSETTLED)
    with open(os.path.join(defs, "settled.sql"), "w") as f:
        f.write(SETTLED)

    checked = stele("processors", "check", defs, check=False)
    if checked.returncode == 0 or "broken.sql:4: unknown column amount: payload fields are data.amount" not in checked.stdout:
        fail(f"processors check did not name the mistake: {checked.stdout}{checked.stderr}")
    if "ok: " + os.path.join(defs, "bursts.sql") not in checked.stdout:
        fail(f"processors check refused the good file: {checked.stdout}")

    server = Server()
    listed = stele("processors", "list", "--server", server.url).stdout
    if "withdrawal_bursts" not in listed or "broken.sql:4:" not in listed:
        fail(f"processors list: {listed}")
    if "broken.sql:4: unknown column" not in open(server.log).read():
        fail("the server did not log the refused processor")

    rng = random.Random(19)
    accounts = [f"acct-{i}" for i in range(6)]
    base = 1_790_000_000_000 // 600_000 * 600_000
    events = []
    for index in range(1200):
        account = rng.choice(accounts)
        kind = "MoneyWithdrawn" if rng.random() < 0.7 else "MoneyDeposited"
        amount = rng.randint(50, 600)
        # About 9 s apart, up to 30 s out of order: within the minute the processor allows.
        at = base + index * 9_000 - rng.randint(0, 30_000)
        events.append((account, kind, amount, at))
    expected = bursts_expected(events, 1000)
    if len(expected) < 20:
        fail(f"the generated traffic makes only {len(expected)} bursts")

    def append(server, event):
        account, kind, amount, at = event
        server.request("POST", f"/streams/accounts/{account}", {"type": kind, "data": {"amount": amount}, "occurredAt": str(at)})

    # Card authorizations, one in three settled within 15 minutes, one in three settled too
    # late, one in three never: the two thirds not settled in time are alerts.
    cards, unsettled_expected, settled_expected = [], set(), set()
    for index in range(90):
        at = base + index * 60_000
        card, authorization = f"card-{index % 7}", f"auth-{index}"
        cards.append((at, card, "CardAuthorized", authorization))
        if index % 3 == 0:
            cards.append((at + 5 * 60_000, card, "AuthorizationSettled", authorization))
            settled_expected.add((authorization, card, iso(at + 5 * 60_000)))
        elif index % 3 == 1:
            cards.append((at + 20 * 60_000, card, "AuthorizationSettled", authorization))
            unsettled_expected.add((card, authorization))
        else:
            unsettled_expected.add((card, authorization))
    cards.sort()

    def append_card(server, entry):
        at, card, kind, authorization = entry
        server.request("POST", f"/streams/cards/{card}", {"type": kind, "data": {"authorization": authorization}, "occurredAt": str(at)})

    for entry in cards[:len(cards) // 2]:
        append_card(server, entry)
    for event in events[:600]:
        append(server, event)
    # Killed while it works: wait until it has written something, then SIGKILL.
    progress = Progress("the processor to write its first results")
    while not outputs(server):
        progress.check(server.request("GET", "/processors/withdrawal_bursts").get("eventsRead"))
        time.sleep(0.02)
    server.kill()

    server = Server()
    for event in events[600:]:
        append(server, event)
    for entry in cards[len(cards) // 2:]:
        append_card(server, entry)
    # Far ahead: the watermark passes every window of the traffic (its own stays open).
    append(server, ("flush", "MoneyWithdrawn", 0, base + 86_400_000))
    append_card(server, (base + 86_400_000, "card-clock", "Tick", "none"))
    status = wait_caught_up(server, 1, len(expected))
    compare(outputs(server), expected, copies=1)
    wait_view(server, expected)
    print(f"ok: {len(expected)} bursts from 1,200 events, each written once and equal to the aggregation computed here, "
          f"through a SIGKILL; dead letters {status.get('deadLettered')}")

    def unsettled_alerts():
        found, after = [], ""
        while True:
            page = server.request("GET", f"/categories/unsettled-alerts/events?limit=1000&after={after}")
            found += [(event["subject"], event["data"]["authorization"]) for event in page["events"]]
            if not page["events"]:
                return found
            after = page["next"]
    progress = Progress("the absences to fire")
    while True:
        status = server.request("GET", "/processors/unsettled")
        found = unsettled_alerts()
        if len(found) > len(unsettled_expected):
            fail(f"{len(found)} unsettled alerts, more than {len(unsettled_expected)}")
        if status.get("lag") == 0 and len(found) == len(unsettled_expected):
            break
        progress.check((status.get("eventsRead"), len(found)))
        time.sleep(0.05)
    if set(found) != unsettled_expected or len(found) != len(set(found)):
        fail(f"unsettled alerts {sorted(set(found) ^ unsettled_expected)[:5]} differ from the ones computed here")
    if "PATTERN (A !S) WITHIN 900000 ms" not in status.get("window", ""):
        fail(f"the pattern processor's status: {status}")
    print(f"ok: MATCH_RECOGNIZE absence: {len(found)} authorizations not settled within 15 minutes, each alerted once, through the same SIGKILL")

    def settled_pairs():
        found, after = [], ""
        while True:
            page = server.request("GET", f"/categories/settled-in-time/events?limit=1000&after={after}")
            for event in page["events"]:
                if event["subject"] != event["data"]["authorization"]:
                    fail(f"a pair in the stream {event['subject']}")
                found.append((event["data"]["authorization"], event["data"]["card"], event["data"]["settledAt"]))
            if not page["events"]:
                return found
            after = page["next"]
    progress = Progress("the join's pairs")
    while True:
        status = server.request("GET", "/processors/settled_in_time")
        found = settled_pairs()
        if len(found) > len(settled_expected):
            fail(f"{len(found)} pairs, more than {len(settled_expected)}")
        if status.get("lag") == 0 and len(found) == len(settled_expected):
            break
        progress.check((status.get("eventsRead"), len(found)))
        time.sleep(0.05)
    if set(found) != settled_expected or len(found) != len(set(found)):
        fail(f"join pairs {sorted(set(found) ^ settled_expected)[:5]} differ from the ones computed here")
    if "JOIN cards a WITH cards s" not in status.get("window", ""):
        fail(f"the join processor's status: {status}")
    print(f"ok: interval join: {len(found)} authorizations settled within 15 minutes, each paired once, through the same SIGKILL")

    rebuilt = stele("processors", "rebuild", "withdrawal_bursts", "--server", server.url).stdout
    if "generation 2" not in rebuilt:
        fail(f"rebuild: {rebuilt}")
    wait_caught_up(server, 2, 2 * len(expected))
    compare(outputs(server), expected, copies=2)
    wait_view(server, expected)
    print("ok: a rebuild wrote every window again under new ids; the view is unchanged")

    missing = urllib.request.Request(server.url + "/processors/nope")
    try:
        urllib.request.urlopen(missing, timeout=60)
        fail("GET /processors/nope answered")
    except urllib.error.HTTPError as error:
        if error.code != 404:
            fail(f"GET /processors/nope answered {error.code}")

    server.stop()
    with open(os.path.join(defs, "bursts.sql"), "w") as f:
        f.write(PROCESSOR.replace("THRESHOLD", "1500"))
    server = Server()
    stricter = bursts_expected(events, 1500)
    status = wait_caught_up(server, 3, 2 * len(expected) + len(stricter))
    if status.get("rebuiltBecause") != "the definition changed":
        fail(f"status after a changed definition: {status}")
    found = outputs(server)
    for (account, start), (count, total) in expected.items():
        got = found.get((account, iso(start)), [])
        copies = 3 if (account, start) in stricter else 2
        if len(got) != copies or any((c, t) != (count, total) for c, t, _ in got):
            fail(f"window {account} {iso(start)} after the change: expected {copies} x {(count, total)}, found {got}")
    print(f"ok: a changed definition rebuilt by itself (generation 3, {len(stricter)} bursts over 1,500)")
    server.stop()
    print("processors: PASS")
    passed = True
finally:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    if passed:
        shutil.rmtree(work, ignore_errors=True)
