#!/usr/bin/env bash
# The flight-booking service under a 10,000:1 read:write load: `stele demo flights` (release
# build) on a fresh data directory, wrk reading the seats_left view over keep-alive HTTP, and
# `stele demo flights book` booking at the rate that gives the ratio, measuring booking latency
# and staleness (booking acknowledged → visible in the view). Prints a table.
#
#   scripts/flights-load.sh [seconds=20] [connections=32] [bookings per second=3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/wait.sh
SECONDS_TO_RUN=${1:-20}
CONNECTIONS=${2:-32}
RATE=${3:-3}
FLIGHTS=100

if ! command -v wrk >/dev/null; then
    command -v apt-get >/dev/null || { echo "wrk is missing and apt-get is not available"; exit 1; }
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
swift build -c release --product stele >/dev/null
STELE=$(swift build -c release --show-bin-path)/stele

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$STELE" demo flights --data-dir "$WORK/data" --kafka-port 0 --http-port "$PORT" --flights $FLIGHTS --log-level warning >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
seats_left_ready() { curl -sf "127.0.0.1:$PORT/views/seats_left" 2>/dev/null | grep -q '"events":0'; }
wait_until "$SERVER" "the seats_left view to catch up" seats_left_ready || { cat "$WORK/serve.log"; exit 1; }

"$STELE" demo flights book --url "http://127.0.0.1:$PORT" --rate "$RATE" --duration "$SECONDS_TO_RUN" --flights $FLIGHTS >"$WORK/book.txt" &
WRITER=$!
FLIGHTS=$FLIGHTS wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_TO_RUN}s" -s scripts/flights-reads.lua "http://127.0.0.1:$PORT" >"$WORK/wrk.txt"
wait $WRITER

read -r _ READS _ ERRORS _ NON2XX _ DURATION _ READ_P50 _ READ_P99 < <(grep '^READS' "$WORK/wrk.txt")
BOOKINGS=$(awk '/^bookings/ {print $2}' "$WORK/book.txt")
read -r _ _ _ _ BOOK_P50 _ BOOK_P99 < <(grep '^booking latency' "$WORK/book.txt")
read -r _ _ _ STALE_P50 _ STALE_P99 < <(grep '^staleness' "$WORK/book.txt")
python3 - "$READS" "$DURATION" "$ERRORS" "$NON2XX" "$READ_P50" "$READ_P99" "$BOOKINGS" "$BOOK_P50" "$BOOK_P99" "$STALE_P50" "$STALE_P99" "$CONNECTIONS" <<'EOF'
import sys
reads, duration, errors, non2xx, rp50, rp99, bookings, bp50, bp99, sp50, sp99, connections = sys.argv[1:]
reads, duration, bookings = int(reads), float(duration), int(bookings)
print(f"\nflights at 10,000:1 — {duration:.0f} s, {connections} keep-alive connections (wrk), one booking writer")
print(f"{'measure':<34}{'value':>16}")
print(f"{'reads/s (seats_left row by key)':<34}{reads / duration:>16,.0f}")
print(f"{'read latency p50 / p99 ms':<34}{rp50 + ' / ' + rp99:>16}")
print(f"{'read errors / non-2xx':<34}{errors + ' / ' + non2xx:>16}")
print(f"{'bookings/s':<34}{bookings / duration:>16.2f}")
print(f"{'reads per booking':<34}{reads / max(bookings, 1):>16,.0f}")
print(f"{'booking latency p50 / p99 ms':<34}{bp50 + ' / ' + bp99:>16}")
print(f"{'staleness p50 / p99 ms':<34}{sp50 + ' / ' + sp99:>16}")
EOF
