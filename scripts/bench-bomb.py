#!/usr/bin/env python3
"""Other clients' latency while decompression bombs arrive: round trips of ApiVersions and of a
small acks=1 produce from one client, first on a quiet broker (the reference), then while four
connections send gzip batches that expand past the 64 MiB cap, back to back. Prints p50/p99/max
of both phases and their ratio. Usage: bench-bomb.py HOST:PORT [SECONDS]"""
import socket, struct, sys, threading, time, gzip, zlib
from kafka.record.default_records import DefaultRecordBatchBuilder

host, port = sys.argv[1].split(":"); port = int(port)
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0

def frame(api, version, correlation, body):
    client = b"bench"
    header = struct.pack(">hhih", api, version, correlation, len(client)) + client
    payload = header + body
    return struct.pack(">i", len(payload)) + payload

def produce_body(topic, batch):
    t = topic.encode()
    return (struct.pack(">h", -1) + struct.pack(">hi", 1, 30000) + struct.pack(">i", 1) + struct.pack(">h", len(t)) + t
            + struct.pack(">i", 1) + struct.pack(">i", 0) + struct.pack(">i", len(batch)) + batch)

def small_batch():
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    b.append(0, timestamp=1_700_000_000_000, key=b"k", value=b"v", headers=[])
    return bytes(b.build())

def bomb_batch():
    # A valid batch whose one record claims a value of 80 MiB of zeros, gzip-compressed.
    b = DefaultRecordBatchBuilder(magic=2, compression_type=1, is_transactional=False, producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    b.append(0, timestamp=1_700_000_000_000, key=b"k", value=bytes(80 << 20), headers=[])
    return bytes(b.build())

def recv_frame(s):
    size = b""
    while len(size) < 4:
        chunk = s.recv(4 - len(size))
        if not chunk: raise ConnectionError("closed")
        size += chunk
    (n,) = struct.unpack(">i", size)
    data = b""
    while len(data) < n:
        chunk = s.recv(min(1 << 20, n - len(data)))
        if not chunk: raise ConnectionError("closed")
        data += chunk
    return data

def measure(duration):
    latencies = []
    small = small_batch()
    with socket.create_connection((host, port)) as s:
        deadline = time.monotonic() + duration
        correlation = 0
        while time.monotonic() < deadline:
            for request in (frame(18, 0, correlation, b""), frame(0, 7, correlation + 1, produce_body("bench-latency", small))):
                started = time.perf_counter()
                s.sendall(request)
                recv_frame(s)
                latencies.append((time.perf_counter() - started) * 1000)
            correlation += 2
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return pick(0.5), pick(0.99), latencies[-1], len(latencies)

stop = threading.Event()
bombs = [0]
def bomber(batch):
    while not stop.is_set():
        try:
            with socket.create_connection((host, port)) as s:
                correlation = 0
                while not stop.is_set():
                    s.sendall(frame(0, 7, correlation, produce_body("bench-bomb", batch)))
                    recv_frame(s)
                    bombs[0] += 1
                    correlation += 1
        except OSError:
            time.sleep(0.05)

quiet = measure(seconds)
batch = bomb_batch()
threads = [threading.Thread(target=bomber, args=(batch,), daemon=True) for _ in range(4)]
for t in threads: t.start()
loaded = measure(seconds)
stop.set()
print(f"bomb batch: {len(batch)} bytes on the wire, 80 MiB expanded (refused past the 64 MiB cap)")
print("| phase | requests | p50 ms | p99 ms | max ms |")
print("| --- | --- | --- | --- | --- |")
print(f"| quiet (reference) | {quiet[3]} | {quiet[0]:.2f} | {quiet[1]:.2f} | {quiet[2]:.2f} |")
print(f"| while 4 clients send bombs ({bombs[0]} refused) | {loaded[3]} | {loaded[0]:.2f} | {loaded[1]:.2f} | {loaded[2]:.2f} |")
print(f"| ratio | | {loaded[0] / quiet[0]:.1f}x | {loaded[1] / quiet[1]:.1f}x | |")
