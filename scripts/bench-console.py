#!/usr/bin/env python3
"""How fast the console's pages are on a big data directory: 1,000 topics and 100,000 streams
(one category, one record per stream, written with kcat), the views of Examples/views.

Each page is opened 30 times in headless Chromium; its time is the console's own measure (from
the route's start to the page drawn: its API calls and rendering; `data-ms`), and a full load
(the HTML, script and style fetched, then the route) is timed by the browser's navigation
timing. The reference is GET /health on the same server in the same run (the HTTP stack's floor
on loopback, from Python); the ratio carries to another machine.

usage: bench-console.py BIN_DIR [--topics N] [--streams N]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Clients"))
from progress import Progress  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("bin")
parser.add_argument("--topics", type=int, default=1000)
parser.add_argument("--streams", type=int, default=100_000)
parser.add_argument("--rounds", type=int, default=30)
args = parser.parse_args()
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
work = tempfile.mkdtemp(prefix="stele-bench-console-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


kafka, http = free_port(), free_port()
log = open(os.path.join(work, "serve.log"), "ab")
server = subprocess.Popen([os.path.join(args.bin, "stele"), "serve", "--data-dir", os.path.join(work, "data"), "--kafka-port", str(kafka),
                           "--http-port", str(http), "--views", os.path.join(root, "Examples", "views"), "--log-level", "warning"],
                          stdout=log, stderr=log)
base = f"http://127.0.0.1:{http}"


def call(path, body=None):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"} if body is not None else {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


try:
    progress = Progress("the server to answer")
    while True:
        try:
            call("/health")
            break
        except Exception:
            progress.check(0)
            time.sleep(0.05)
    started = time.monotonic()
    for i in range(args.topics - 1):
        call("/topics", {"name": f"topic-{i:04d}", "partitions": 1})
    lines = "".join(f"account-{i}:{{\"n\":{i}}}\n" for i in range(args.streams))
    subprocess.run(["kcat", "-P", "-b", f"127.0.0.1:{kafka}", "-t", "accounts", "-K:", "-X", "linger.ms=50"], input=lines.encode(), check=True)
    progress = Progress("the streams to be written")
    while json.loads(call("/topics/accounts"))["partitions"][0]["logEndOffset"] < args.streams:
        progress.check(json.loads(call("/topics/accounts"))["partitions"][0]["logEndOffset"])
        time.sleep(0.1)
    print(f"filled: {args.topics} topics, {args.streams} streams in {time.monotonic() - started:.0f} s", file=sys.stderr)

    health = []
    for _ in range(300):
        t = time.perf_counter()
        call("/health")
        health.append((time.perf_counter() - t) * 1000)
    reference = statistics.median(health)

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    pages = [("overview", "#/"), ("topics", "#/topics"), ("a topic (50 newest records)", "#/topics/accounts"),
             ("a stream", "#/streams/accounts/account-77777"), ("consumer groups", "#/groups"), ("views", "#/views"),
             ("a view", "#/views/balances")]
    rows = []
    try:
        for name, hash_ in pages:
            route, full = [], []
            for i in range(args.rounds):
                browser.get(f"{base}/?r={i}{hash_}")
                progress = Progress(f"page {hash_}")
                while browser.find_element(By.ID, "main").get_attribute("data-loaded") != hash_:
                    progress.check(0)
                    time.sleep(0.005)
                ms = float(browser.find_element(By.ID, "main").get_attribute("data-ms"))
                start = browser.execute_script("const n = performance.getEntriesByType('navigation')[0]; return n.domContentLoadedEventEnd;")
                route.append(ms)
                full.append(start + ms)
            rows.append((name, statistics.median(route), percentile(route, 99), statistics.median(full), percentile(full, 99)))
    finally:
        browser.quit()
    print(f"\nconsole on {args.topics} topics and {args.streams} streams, {args.rounds} loads per page; reference GET /health p50 {reference:.2f} ms")
    print("| page | route p50 ms | route p99 ms | full load p50 ms | full load p99 ms | full load p50 / GET /health |")
    print("|---|---|---|---|---|---|")
    for name, p50, p99, f50, f99 in rows:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {f50:.1f} | {f99:.1f} | {f50 / reference:.0f}× |")
finally:
    server.kill()
    server.wait()
    shutil.rmtree(work, ignore_errors=True)
