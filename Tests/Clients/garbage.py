#!/usr/bin/env python3
"""Malformed input must never take the broker down: send garbage, truncated and oversized
frames and unknown APIs on separate connections, then check a normal client still works."""
import socket
import struct
import sys

host, port = sys.argv[1].split(":")
port = int(port)


def send(payload, expect_close=True, reply_timeout=3):
    """Sends payload on a new connection; returns what the broker answers within reply_timeout
    seconds (b"" if it closes the connection, None if it says nothing)."""
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(payload)
        s.settimeout(reply_timeout)
        try:
            data = s.recv(65536)
        except socket.timeout:
            data = None
        return data


def frame(body):
    return struct.pack(">i", len(body)) + body


cases = {
    "random bytes": bytes(range(256)) * 4,
    "negative size": struct.pack(">i", -5) + b"abc",
    "oversized frame": struct.pack(">i", 2_000_000_000),
    "truncated header": frame(b"\x00\x12"),
    "unknown api key": frame(struct.pack(">hhi", 999, 0, 7) + b"\x00\x00"),
    "unsupported metadata version": frame(struct.pack(">hhi", 3, 99, 8) + b"\x00\x00"),
    "metadata with a huge array count": frame(struct.pack(">hhi", 3, 1, 9) + b"\x00\x00" + struct.pack(">i", 0x7FFFFFFF)),
    "produce with truncated records": frame(struct.pack(">hhi", 0, 7, 10) + b"\x00\x00" + b"\xff\xff" + struct.pack(">hi", -1, 1000)
                                             + struct.pack(">i", 1) + struct.pack(">h", 1) + b"t" + struct.pack(">i", 1)
                                             + struct.pack(">i", 0) + struct.pack(">i", 500) + b"\x00" * 10),
}
for name, payload in cases.items():
    send(payload)
    print(f"sent {name}")

# ApiVersions v99 must be answered with error 35 in a v0 body, not dropped.
# The answer is asserted: wait for it as long as a slow, busy machine may need.
reply = send(frame(struct.pack(">hhi", 18, 99, 42) + b"\x00\x00"), reply_timeout=60)
if not reply or len(reply) < 10:
    sys.exit("ApiVersions v99 got no answer")
size, correlation, error = struct.unpack(">iih", reply[:10])
if correlation != 42 or error != 35:
    sys.exit(f"ApiVersions v99 answered correlation {correlation} error {error}, expected 42 and 35")
print("ApiVersions v99 answered with UNSUPPORTED_VERSION")
