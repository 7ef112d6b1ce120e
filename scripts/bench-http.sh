#!/usr/bin/env bash
# HTTP appends against Kafka-protocol produce, on the same `stele serve` (release build, every
# append fsync'ed before it is acknowledged) in the same run:
#   - wrk POSTing one event, then ten, per request to random streams of a category (32 connections);
#   - confluent-kafka (librdkafka) producing records of the same size with acks=all.
#
#   scripts/bench-http.sh [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/wait.sh
SECS=${1:-10}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q confluent-kafka
swift build -c release --product stele >/dev/null
STELE=$(swift build -c release --show-bin-path)/stele
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(free_port); KAFKA=$(free_port)
"$STELE" serve --data-dir "$WORK/data" --kafka-port "$KAFKA" --http-port "$HTTP" --log-level warning >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
wait_until "$SERVER" "the server to answer /health" curl -sf -o /dev/null "127.0.0.1:$HTTP/health" || { cat "$WORK/serve.log"; exit 1; }

run_wrk() {
    EVENTS=$1 wrk -t2 -c32 -d"${SECS}s" -s scripts/bench-http.lua "http://127.0.0.1:$HTTP" | grep '^REQUESTS'
}
read -r _ R1 _ E1 _ D1 _ P50_1 _ P99_1 < <(run_wrk 1)
read -r _ R10 _ E10 _ D10 _ P50_10 _ P99_10 < <(run_wrk 10)

KAFKA_RATE=$(python3 - "$KAFKA" "$SECS" <<'PY'
import sys, time
from confluent_kafka import Producer
port, seconds = sys.argv[1], float(sys.argv[2])
producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "acks": "all", "linger.ms": 5, "queue.buffering.max.messages": 1000000})
value = b'{"amount":10,"note":"' + b"x" * 60 + b'"}'
done = [0]
def delivered(err, msg):
    if err is None: done[0] += 1
start = time.time(); i = 0
while time.time() - start < seconds:
    try:
        producer.produce("bench-kafka", key=b"account-%d" % (i % 10000), value=value, on_delivery=delivered); i += 1
    except BufferError:
        producer.poll(0.01)
    if i % 1000 == 0: producer.poll(0)
producer.flush(60)
print(f"{done[0] / (time.time() - start):.0f}")
PY
)
python3 - "$R1" "$E1" "$D1" "$P50_1" "$P99_1" "$R10" "$E10" "$D10" "$P50_10" "$P99_10" "$KAFKA_RATE" <<'PY'
import sys
r1, e1, d1, p501, p991, r10, e10, d10, p5010, p9910, kafka = sys.argv[1:]
r1, d1, r10, d10, kafka = int(r1), float(d1), int(r10), float(d10), float(kafka)
print("\nappends over HTTP vs produce over the Kafka protocol (same server, fsync before every acknowledgement)")
print(f"{'case':<44}{'events/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
print(f"{'HTTP POST, 1 event per request, 32 conns':<44}{r1 / d1:>12,.0f}{float(p501):>9.2f}{float(p991):>9.2f}{e1:>9}")
print(f"{'HTTP POST, 10 events per request, 32 conns':<44}{10 * r10 / d10:>12,.0f}{float(p5010):>9.2f}{float(p9910):>9.2f}{e10:>9}")
print(f"{'Kafka produce, librdkafka, acks=all':<44}{kafka:>12,.0f}{'':>9}{'':>9}{'':>9}")
PY
