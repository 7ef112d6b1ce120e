#!/usr/bin/env python3
"""Processors and views over the topics of another Kafka-protocol cluster, end to end.

A first `stele serve` stands in for the cluster users have moved to. It holds the category
`accounts` (events appended over HTTP) and the topic `swipes`, written by a plain Kafka producer
(kafka-python: a key and a JSON value, no Stele headers — read as `kafka.record` events of the
stream named by the key). A second `stele serve` follows both topics from the first one's
bootstrap address (`--mirror-source`, `--mirror-topics`: a local copy keeping the source's
offsets) and runs, from `--views DIR`:

- a window processor over `accounts` (withdrawals per account and 10 minutes, the sum past 1,000);
- an interval join over the raw `swipes` (a card swiped twice within 10 seconds in two countries);
- a view folding `accounts` into balances.

The second server is SIGKILLed halfway and restarted while the first one takes the rest. At the
end every output equals what this test computes from the events it wrote, each once, and the
view's balances equal the sums. Waits are for progress, never for a fixed time.

usage: processors_external.py BIN_DIR
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
import urllib.request

from kafka import KafkaProducer

from progress import Progress

BIN = sys.argv[1]
work = tempfile.mkdtemp(prefix="stele-processors-external-")
defs = os.path.join(work, "defs")
processes = []
passed = False

BURSTS = """-- @processor withdrawal_bursts
-- @output bursts
-- @event-type WithdrawalBurst
-- @out-of-order 1 minute
SELECT stream_id AS account, window_start, COUNT(*) AS withdrawals, SUM(data.amount) AS total
FROM TABLE(TUMBLE(TABLE accounts, DESCRIPTOR(occurred_at), INTERVAL '10' MINUTES))
WHERE type = 'MoneyWithdrawn'
GROUP BY stream_id, window_start, window_end
HAVING SUM(data.amount) > 1000
"""

# Raw Kafka records: the stream is the record's key (the card), the payload its JSON value.
TWO_COUNTRIES = """-- @processor two_countries
-- @output card-alerts
-- @event-type SwipedInTwoCountries
-- @out-of-order 5 seconds
SELECT a.stream_id AS card, a.data.country AS first, b.data.country AS second, a.data.at AS firstAt, b.data.at AS secondAt
FROM swipes a
JOIN swipes b ON a.stream_id = b.stream_id
 AND b.data.at BETWEEN a.data.at AND a.data.at + INTERVAL '10' SECONDS
WHERE a.data.country <> b.data.country AND a.data.at <> b.data.at
"""

BALANCES = """-- @view balances
-- @categories accounts
CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL);
-- @on MoneyDeposited (amount integer)
INSERT INTO balances VALUES (:stream_id, :data.amount) ON CONFLICT (account) DO UPDATE SET balance = balance + :data.amount;
-- @on MoneyWithdrawn (amount integer)
INSERT INTO balances VALUES (:stream_id, -:data.amount) ON CONFLICT (account) DO UPDATE SET balance = balance - :data.amount;
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


class Server:
    def __init__(self, name, data, extra):
        self.http, self.kafka = free_port(), free_port()
        self.log = os.path.join(work, name + ".log")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([os.path.join(BIN, "stele"), "serve", "--data-dir", data, "--kafka-port", str(self.kafka),
                                             "--http-port", str(self.http), *extra], stdout=log, stderr=log)
        processes.append(self.process)
        self.url = f"http://127.0.0.1:{self.http}"
        progress = Progress(f"{name} to answer /health")
        while True:
            if self.process.poll() is not None:
                fail(f"{name} exited with {self.process.returncode}")
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

    def category(self, name):
        found, after = [], ""
        while True:
            page = self.request("GET", f"/categories/{name}/events?limit=1000&after={after}")
            found += page["events"]
            if not page["events"]:
                return found
            after = page["next"]

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait() != 0:
            fail("a server did not stop cleanly")


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


try:
    os.makedirs(defs)
    for name, text in (("bursts.sql", BURSTS), ("two_countries.sql", TWO_COUNTRIES), ("balances.sql", BALANCES)):
        with open(os.path.join(defs, name), "w") as f:
            f.write(text)

    rng = random.Random(1919)
    base = 1_790_000_000_000 // 600_000 * 600_000
    accounts = [f"acct-{i}" for i in range(5)]
    events = []
    for index in range(800):
        kind = "MoneyWithdrawn" if rng.random() < 0.7 else "MoneyDeposited"
        events.append((rng.choice(accounts), kind, rng.randint(50, 600), base + index * 9_000 - rng.randint(0, 30_000)))
    # One far ahead closes every window of the traffic (a withdrawal: the events the processor's
    # WHERE leaves out move no watermark).
    events.append(("acct-0", "MoneyWithdrawn", 0, base + 86_400_000))
    cards = [f"card-{i}" for i in range(6)]
    swipes = []
    for index in range(600):
        swipes.append((rng.choice(cards), rng.choice(["FR", "FR", "FR", "DE"]), base + index * 3_000 + rng.randint(0, 2_000)))
    swipes.append(("card-0", "FR", base + 86_400_000))

    windows = {}
    for account, kind, amount, at in events[:-1]:
        if kind == "MoneyWithdrawn":
            start = at // 600_000 * 600_000
            count, total = windows.get((account, start), (0, 0))
            windows[(account, start)] = (count + 1, total + amount)
    bursts_expected = {(a, iso(s)): v for (a, s), v in windows.items() if v[1] > 1000}
    alerts_expected = set()
    for first in swipes:
        for second in swipes:
            if first[0] == second[0] and first[1] != second[1] and first[2] != second[2] and 0 <= second[2] - first[2] <= 10_000:
                alerts_expected.add((first[0], first[1], second[1], first[2], second[2]))
    balances_expected = {}
    for account, kind, amount, _ in events:
        balances_expected[account] = balances_expected.get(account, 0) + (amount if kind == "MoneyDeposited" else -amount)
    if len(bursts_expected) < 10 or len(alerts_expected) < 10:
        fail(f"the generated traffic makes {len(bursts_expected)} bursts and {len(alerts_expected)} alerts")

    source = Server("source", os.path.join(work, "source"), [])
    producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{source.kafka}", acks="all")

    def write(upto_events, upto_swipes, written):
        for account, kind, amount, at in events[written[0]:upto_events]:
            source.request("POST", f"/streams/accounts/{account}", {"type": kind, "data": {"amount": amount}, "occurredAt": str(at)})
        for card, country, at in swipes[written[1]:upto_swipes]:
            producer.send("swipes", key=card.encode(), value=json.dumps({"country": country, "at": at}).encode())
        producer.flush()
        written[0], written[1] = upto_events, upto_swipes

    written = [0, 0]
    write(len(events) // 2, len(swipes) // 2, written)

    follower_args = ["--mirror-source", f"127.0.0.1:{source.kafka}", "--mirror-topics", "accounts|swipes", "--views", defs]
    follower_data = os.path.join(work, "follower")
    follower = Server("follower", follower_data, follower_args)
    # Killed while it works: once both processors have written something.
    progress = Progress("the follower's processors to write their first results")
    while not (follower.category("bursts") and follower.category("card-alerts")):
        progress.check((len(follower.category("bursts")), len(follower.category("card-alerts"))))
        time.sleep(0.05)
    follower.kill()
    write(len(events), len(swipes), written)
    follower = Server("follower", follower_data, follower_args)

    def state():
        bursts = [(e["data"]["account"], e["data"]["window_start"], e["data"]["withdrawals"], e["data"]["total"]) for e in follower.category("bursts")]
        alerts = [(e["data"]["card"], e["data"]["first"], e["data"]["second"], e["data"]["firstAt"], e["data"]["secondAt"]) for e in follower.category("card-alerts")]
        rows = follower.request("POST", "/views/balances/query", {"sql": "SELECT account, balance FROM balances"})["rows"]
        return bursts, alerts, {r["account"]: r["balance"] for r in rows}

    progress = Progress("the follower to catch up with the source")
    while True:
        bursts, alerts, balances = state()
        if len(bursts) > len(bursts_expected) or len(alerts) > len(alerts_expected):
            fail(f"more outputs than expected: {len(bursts)} bursts, {len(alerts)} alerts")
        if len(bursts) == len(bursts_expected) and len(alerts) == len(alerts_expected) and balances == balances_expected:
            break
        progress.check((len(bursts), len(alerts), sorted(balances.items())))
        time.sleep(0.1)
    found = {(a, s): (n, t) for a, s, n, t in bursts}
    if len(found) != len(bursts) or found != bursts_expected:
        fail(f"bursts differ from the ones computed here: {sorted(set(found.items()) ^ set(bursts_expected.items()))[:5]}")
    if len(set(alerts)) != len(alerts) or set(alerts) != alerts_expected:
        fail(f"card alerts differ from the ones computed here: {sorted(set(alerts) ^ alerts_expected)[:5]}")
    for name in ("withdrawal_bursts", "two_countries"):
        if follower.request("GET", f"/processors/{name}").get("state") != "running":
            fail(f"processor {name}: {follower.request('GET', f'/processors/{name}')}")
    print(f"ok: over the topics of another cluster (a second stele serve), through a SIGKILL of the follower: "
          f"{len(bursts)} bursts from {len(events)} events, {len(alerts)} two-country alerts from {len(swipes)} raw Kafka records, "
          f"each once and equal to the ones computed here; {len(balances)} balances folded by a view")
    producer.close()
    follower.stop()
    source.stop()
    print("processors_external: PASS")
    passed = True
finally:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    if passed:
        shutil.rmtree(work, ignore_errors=True)
