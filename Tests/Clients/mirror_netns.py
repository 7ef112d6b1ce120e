#!/usr/bin/env python3
"""The mirror between two sites: two `stele serve` in two network namespaces joined by a veth
pair, through a TCP proxy of this test's own that delays every byte 100 ms each way, stalls at
random and resets connections (the kernel here has no netem qdisc).

- site A (namespace src) holds the source; a producer writes 3 partitions at a steady rate;
- site B (namespace dst) runs `stele serve --mirror-source PROXY` (the mirror inside the node);
- during the run the link is cut for 30 s (the veth taken down) and the target, with its
  mirror, is SIGKILLed and started again;
- then every partition's segment on the target equals the source's byte for byte (every record
  at the same offset, nothing missing, nothing doubled), and the lag the target reported in
  /metrics while it ran is printed (p50, p99, max).

Needs root (ip netns). Waits are for progress, never for a fixed time (the 30 s cut is the
fault itself).

usage: mirror_netns.py BIN_DIR [--cut-seconds 30] [--rate 1000]
       mirror_netns.py BIN_DIR --bench SECONDS --rate 10000   (no faults: the lag at that rate,
                                                              against the link's round trip)
       mirror_netns.py --proxy LISTEN_PORT HOST PORT SEED [--no-faults]   (run inside namespace dst)
       mirror_netns.py --produce BOOTSTRAP RATE STOPFILE       (run inside namespace src)
"""
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time


def proxy(listen_port, host, port, seed, faults=True):
    """Every chunk each way is delivered 100 ms after it arrived, in order; with `faults`, now
    and then a direction stalls for 0.5-2 s, and now and then a connection pair is reset."""
    rng = random.Random(seed)

    async def pipe(reader, writer, peer_writer):
        queue = asyncio.Queue()

        async def deliver():
            try:
                while True:
                    due, data = await queue.get()
                    if data is None:
                        break
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if faults and rng.random() < 0.002:
                        await asyncio.sleep(rng.uniform(0.5, 2.0))   # a stall
                    writer.write(data)
                    await writer.drain()
            except Exception:
                pass
            finally:
                writer.close()
        task = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await queue.put((time.monotonic() + 0.1, data))
        except Exception:
            pass
        await queue.put((0, None))
        await task

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except Exception:
            client_writer.close()
            return
        pair = [client_writer, server_writer]

        async def reset_later():
            await asyncio.sleep(rng.uniform(5, 20))
            for w in pair:   # a connection reset: both ends closed at once, mid-stream
                try:
                    w.transport.abort()
                except Exception:
                    pass
        resetter = asyncio.ensure_future(reset_later() if faults else asyncio.sleep(0))
        await asyncio.gather(pipe(client_reader, server_writer, client_writer), pipe(server_reader, client_writer, server_writer))
        resetter.cancel()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def produce(bootstrap, rate, stopfile):
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    acked = [0]

    def done(error, _):
        if error is None:
            acked[0] += 1
    sent = 0
    start = time.monotonic()
    while not os.path.exists(stopfile):
        due = start + sent / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        producer.produce("orders", key=f"k{sent % 997}", value=f"order {sent} " + "x" * 80, callback=done)
        producer.poll(0)
        sent += 1
    producer.flush(120)
    print(f"acked {acked[0]} of {sent}", flush=True)


if len(sys.argv) > 1 and sys.argv[1] == "--proxy":
    proxy(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), faults=len(sys.argv) < 7 or sys.argv[6] != "--no-faults")
    sys.exit(0)
if len(sys.argv) > 1 and sys.argv[1] == "--produce":
    produce(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    sys.exit(0)

import argparse
import json

from progress import Progress

parser = argparse.ArgumentParser()
parser.add_argument("bin")
parser.add_argument("--cut-seconds", type=float, default=30)
parser.add_argument("--rate", type=float, default=1000)
parser.add_argument("--bench", type=float, default=0, help="no faults: produce this many seconds and report the lag")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
HERE = os.path.abspath(__file__)
work = tempfile.mkdtemp(prefix="stele-mirror-netns-")
tag = str(os.getpid())
SRC, DST = f"stele-src-{tag}", f"stele-dst-{tag}"
VS, VD = f"vs{tag}"[:15], f"vd{tag}"[:15]
processes = []


def fail(message):
    sys.exit(f"FAIL {message} (logs in {work})")


def sh(*command, check=True):
    return subprocess.run(command, check=check, capture_output=True, text=True)


def inside(ns, *command):
    return ["ip", "netns", "exec", ns, *command]


def spawn(name, command):
    log = open(os.path.join(work, f"{name}.log"), "ab")
    process = subprocess.Popen(command, stdout=log, stderr=log)
    processes.append(process)
    return process


def http(ns, port, path):
    result = subprocess.run(inside(ns, "curl", "-sf", "--max-time", "30", f"http://127.0.0.1:{port}{path}"), capture_output=True, text=True)
    if result.returncode != 0:
        raise OSError(f"curl {path} in {ns}: {result.returncode}")
    return result.stdout


def serve(name, ns, http_port, *extra):
    process = spawn(name, inside(ns, os.path.join(BIN, "stele"), "serve", "--data-dir", os.path.join(work, name),
                                 "--http-listen", "127.0.0.1", "--http-port", str(http_port), *extra))
    progress = Progress(f"{name} to answer /health")
    while True:
        if process.poll() is not None:
            fail(f"{name} exited with {process.returncode}")
        try:
            http(ns, http_port, "/health")
            return process
        except OSError:
            progress.check(0)
            time.sleep(0.1)


def ends(ns, port):
    return [p["logEndOffset"] for p in json.loads(http(ns, port, "/topics/orders"))["partitions"]]


try:
    if os.getuid() != 0:
        fail("needs root for network namespaces")
    sh("ip", "netns", "add", SRC)
    sh("ip", "netns", "add", DST)
    sh("ip", "link", "add", VS, "type", "veth", "peer", "name", VD)
    sh("ip", "link", "set", VS, "netns", SRC)
    sh("ip", "link", "set", VD, "netns", DST)
    for ns, dev, address in [(SRC, VS, "10.77.0.1/24"), (DST, VD, "10.77.0.2/24")]:
        sh(*inside(ns, "ip", "addr", "add", address, "dev", dev))
        sh(*inside(ns, "ip", "link", "set", dev, "up"))
        sh(*inside(ns, "ip", "link", "set", "lo", "up"))

    source = serve("source", SRC, 8080, "--listen", "10.77.0.1", "--kafka-port", "9092", "--allow-unauthenticated-network-access")
    sh(*inside(SRC, os.path.join(BIN, "stele"), "topics", "create", "orders", "--partitions", "3", "--bootstrap", "10.77.0.1:9092"))
    spawn("proxy", inside(DST, sys.executable, HERE, "--proxy", "19092", "10.77.0.1", "9092", "7", *(["--no-faults"] if args.bench else [])))
    stopfile = os.path.join(work, "stop-producing")
    producer = spawn("producer", inside(SRC, sys.executable, HERE, "--produce", "10.77.0.1:9092", str(args.rate), stopfile))
    target = serve("target", DST, 8080, "--kafka-port", "9092", "--mirror-source", "127.0.0.1:19092", "--mirror-topics", "orders")

    samples = []

    def sample():
        try:
            text = http(DST, 8080, "/metrics")
        except OSError:
            return None
        found = re.search(r'^stele_mirror_lag_seconds\{topic="orders"\} (\S+)$', text, re.M)
        if found:
            samples.append(float(found.group(1)))
        return found

    def copied():
        try:
            return sum(ends(DST, 8080))
        except (OSError, KeyError, ValueError):
            return 0

    def run_until_copied(more, what):
        """Samples the lag until the target has copied `more` records more than now."""
        goal = copied() + more
        progress = Progress(what)
        while copied() < goal:
            sample()
            progress.check(copied())
            time.sleep(0.2)

    run_until_copied(int(args.rate * 5), "the mirror to copy 5 s of records across the proxied link")
    if args.bench:
        # The reference: one Kafka request's round trip through the same proxy (ApiVersions v0).
        rtts = []
        for attempt in range(5):
            out = subprocess.run(inside(DST, sys.executable, "-c", """
import socket, struct, time
s = socket.create_connection(("127.0.0.1", 19092))
body = struct.pack(">hhi", 18, 0, 1) + struct.pack(">h", 4) + b"bench"
start = time.monotonic(); s.sendall(struct.pack(">i", len(body)) + body)
size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]; s.recv(size, socket.MSG_WAITALL)
print(time.monotonic() - start)
"""), capture_output=True, text=True)
            if out.returncode == 0:
                rtts.append(float(out.stdout))
        samples.clear()
        until = time.monotonic() + args.bench
        while time.monotonic() < until:
            sample()
            time.sleep(0.1)
        ordered = sorted(samples)
        rtt = sorted(rtts)[len(rtts) // 2] if rtts else float("nan")
        p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        print()
        print("| records/s | link round trip (reference) | lag p50 | lag p99 | lag max | p99 / round trip | samples |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print(f"| {args.rate:,.0f} | {rtt * 1000:.0f} ms | {p(0.5) * 1000:.0f} ms | {p(0.99) * 1000:.0f} ms | {ordered[-1] * 1000:.0f} ms | "
              f"{p(0.99) / rtt:.1f}× | {len(ordered)} |")
        open(stopfile, "w").close()
        sys.exit(0)
    sh(*inside(DST, "ip", "link", "set", VD, "down"))
    cut_until = time.monotonic() + args.cut_seconds
    while time.monotonic() < cut_until:   # the fault: the link is down this long
        sample()
        time.sleep(0.2)
    sh(*inside(DST, "ip", "link", "set", VD, "up"))
    print(f"the link was cut for {args.cut_seconds:g} s and restored")
    run_until_copied(int(args.rate * 5), "the mirror to copy again after the cut")
    target.send_signal(signal.SIGKILL)
    target.wait()
    target = serve("target", DST, 8080, "--kafka-port", "9092", "--mirror-source", "127.0.0.1:19092", "--mirror-topics", "orders")
    print("the target, with its mirror, was SIGKILLed and started again")
    run_until_copied(int(args.rate * 5), "the mirror to copy after the target's restart")
    open(stopfile, "w").close()
    progress = Progress("the producer to finish")
    while producer.poll() is None:
        progress.check(0)
        time.sleep(0.2)
    with open(os.path.join(work, "producer.log")) as f:
        acked = int(re.search(r"acked (\d+) of (\d+)", f.read()).group(1))
    source_ends = ends(SRC, 8080)
    if sum(source_ends) < acked:
        fail(f"the source holds {sum(source_ends)} records, the producer had {acked} acknowledged")
    progress = Progress("the target to hold everything the source holds")
    while True:
        sample()
        current = ends(DST, 8080)
        if current == source_ends:
            break
        progress.check(sum(current))
        time.sleep(0.2)
    for partition in range(3):
        directory = os.path.join("topics", "orders", str(partition))
        names = sorted(n for n in os.listdir(os.path.join(work, "source", directory)) if n.endswith(".log"))
        for name in names:
            with open(os.path.join(work, "source", directory, name), "rb") as f:
                source_bytes = f.read()
            with open(os.path.join(work, "target", directory, name), "rb") as f:
                target_bytes = f.read()
            if source_bytes != target_bytes:
                fail(f"orders-{partition} {name}: the target's segment ({len(target_bytes)} bytes) differs from the source's ({len(source_bytes)})")
    ordered = sorted(samples)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
    print(f"mirror across two namespaces (100 ms each way, stalls, resets, a {args.cut_seconds:g} s cut, the target SIGKILLed): "
          f"{sum(source_ends)} records ({acked} acknowledged) at the same offsets, every segment byte for byte; "
          f"lag over {len(samples)} samples: p50 {p(0.5):.2f} s, p99 {p(0.99):.2f} s, max {max(samples or [0]):.2f} s: OK")
finally:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    subprocess.run(["ip", "netns", "del", SRC], capture_output=True)
    subprocess.run(["ip", "netns", "del", DST], capture_output=True)
