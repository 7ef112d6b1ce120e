#!/usr/bin/env bash
# Faults from the README's fault matrix that need real processes: a second `stele serve` on the
# same data directory, a topic whose metadata file vanished while the server was down (offline,
# data kept, name not reusable, deletable), and out-of-range configs and flags. Each check
# names the fault it injects.
set -euo pipefail
. "$(dirname "$0")/lib/wait.sh"
# (Pipelines into grep use -c, not -q: -q exits at the first match and the writer can die of
# SIGPIPE, which pipefail turns into a failure.)
bin="${1:-.build/debug}"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
data="$work/data"
fail() { echo "faults-test: $*"; [ -f "$work/serve.log" ] && tail -20 "$work/serve.log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {
    kafka=$(free_port); http=$(free_port)
    "$bin/stele" serve --data-dir "$data" --kafka-port "$kafka" --http-port "$http" "$@" > "$work/serve.log" 2>&1 &
    pid=$!
    wait_until "$pid" "the server to answer /health" curl -sf -o /dev/null "http://127.0.0.1:$http/health" || fail "the server did not start"
}
stop() {
    kill -TERM "$pid"
    wait "$pid" || fail "the server did not stop cleanly"
    pid=""
}

# --- A second process on the data directory is refused and told who holds it.
start
printf 'k:acknowledged-1\nk:acknowledged-2\n' | kcat -P -b "127.0.0.1:$kafka" -t orders -K: -p 0
printf 'k:v\n' | kcat -P -b "127.0.0.1:$kafka" -t other -K:
if "$bin/stele" serve --data-dir "$data" --kafka-port 0 --http-port 0 > "$work/second.log" 2>&1; then fail "a second server started on the same data directory"; fi
grep -q "in use by pid $pid" "$work/second.log" || { cat "$work/second.log"; fail "the second server did not name the holder (pid $pid)"; }
if "$bin/stele" demo bank --data-dir "$data" > "$work/demo.log" 2>&1; then fail "stele demo wrote into a served data directory"; fi
grep -q "in use by pid $pid" "$work/demo.log" || { cat "$work/demo.log"; fail "stele demo did not name the holder"; }
# Read-only tools still work beside the server.
"$bin/stele" log verify "$data/topics/orders/0" | grep -c '^OK' >/dev/null || fail "log verify beside a running server"
curl -sf "http://127.0.0.1:$http/health" | grep -c '"status":"ok"' >/dev/null || fail "health not ok on a clean start"
stop

# --- A topic's metadata file vanished: the topic goes offline, its data stays.
rm "$data/topics/orders/topic.json"
start
grep "error" "$work/serve.log" | grep "topic offline" | grep -q "orders/topic.json is missing" || fail "no ERROR naming the missing topic.json"
test -s "$data/topics/orders/0/00000000000000000000.log" || fail "the offline topic's data was removed"
curl -sf "http://127.0.0.1:$http/health" | grep -c '"status":"degraded"' >/dev/null || fail "health does not say degraded"
curl -sf "http://127.0.0.1:$http/topics" | grep -c '"offline":\[{"name":"orders"' >/dev/null || fail "GET /topics does not list the offline topic"
code=$(curl -s -o "$work/topic.json" -w '%{http_code}' "http://127.0.0.1:$http/topics/orders")
[ "$code" = 503 ] && grep -q 'topic.json is missing' "$work/topic.json" || fail "GET /topics/orders: $code $(cat "$work/topic.json")"
# Produce must not auto-create the topic again (that would hand out offsets 0 and 1 a second time).
if printf 'k:new\n' | kcat -P -b "127.0.0.1:$kafka" -t orders -K: -p 0 -X message.timeout.ms=5000 2> "$work/produce.err"; then
    fail "a produce to the offline topic was acknowledged"
fi
grep -q "Disk error\|KAFKA_STORAGE_ERROR" "$work/produce.err" || { cat "$work/produce.err"; fail "the producer was not told of a storage error"; }
test ! -e "$data/topics/orders/topic.json" || fail "the offline topic was re-created"
kcat -C -b "127.0.0.1:$kafka" -t other -e -q | grep -c '^v$' >/dev/null || fail "the other topic is not served"
# Deleting the offline topic is the explicit way out.
python3 - "127.0.0.1:$kafka" <<'PY' || fail "deleting the offline topic"
import sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=60000)
admin.delete_topics(["orders"])
PY
test ! -e "$data/topics/orders" || fail "the deleted topic's directory is still there"
curl -sf "http://127.0.0.1:$http/health" | grep -c '"status":"ok"' >/dev/null || fail "health not ok after the deletion"

# --- Out-of-range topic configs are refused naming the key and the range (HTTP and Kafka).
code=$(curl -s -o "$work/create.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"name":"bad","configs":{"delete.retention.ms":"-9223372036854775808"}}' "http://127.0.0.1:$http/topics")
[ "$code" = 400 ] && grep -q 'delete.retention.ms=-9223372036854775808 is out of range' "$work/create.json" || fail "POST /topics: $code $(cat "$work/create.json")"
python3 - "127.0.0.1:$kafka" <<'PY' || fail "CreateTopics with segment.bytes=0 was not refused with INVALID_CONFIG"
import sys
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import InvalidConfigurationError
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=60000)
try:
    admin.create_topics([NewTopic("bad2", 1, 1, topic_configs={"segment.bytes": "0"})])
except InvalidConfigurationError as error:
    assert "segment.bytes=0 is out of range" in str(error), error
    sys.exit(0)
sys.exit(1)
PY
test ! -e "$data/topics/bad" && test ! -e "$data/topics/bad2" || fail "a refused topic left a directory"
stop

# --- Damage below the recovery point (synced, acknowledged data): offline, nothing cut; then
# `stele log repair` sets the damage aside and the partition goes on without reusing an offset.
start
for i in $(seq 0 9); do printf 'k:ledger-%s\n' "$i"; done | kcat -P -b "127.0.0.1:$kafka" -t ledger -K: -p 0 -X linger.ms=0 -X batch.num.messages=1
stop
segment="$data/topics/ledger/0/00000000000000000000.log"
python3 - "$segment" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
position = 0
for _ in range(3):                                   # the 4th batch's length field
    position += 12 + struct.unpack('>i', data[position + 8:position + 12])[0]
data[position + 8] ^= 0x40
open(sys.argv[1], 'wb').write(data)
PY
size=$(stat -c %s "$segment")
start
curl -sf "http://127.0.0.1:$http/health" | grep -c 'damage below the recovery point' >/dev/null || fail "health does not name the damage"
[ "$(stat -c %s "$segment")" = "$size" ] || fail "recovery cut acknowledged data"
if "$bin/stele" log repair "$data/topics/ledger/0" > "$work/repair.log" 2>&1; then fail "repair ran beside the server"; fi
grep -q "in use by pid $pid" "$work/repair.log" || { cat "$work/repair.log"; fail "repair did not refuse a served directory"; }
stop
"$bin/stele" log repair "$data/topics/ledger/0" | tee "$work/repair.log" | grep -c "offsets 3..<10 are lost" >/dev/null || { cat "$work/repair.log"; fail "repair did not report the lost offsets"; }
ls "$data/topics/ledger/0/" | grep -q '00000000000000000000.log.damaged-' || fail "the damaged bytes were not set aside"
start
printf 'k:after-repair\n' | kcat -P -b "127.0.0.1:$kafka" -t ledger -K: -p 0
kcat -C -b "127.0.0.1:$kafka" -t ledger -p 0 -e -q -f '%o %s\n' > "$work/ledger.txt"
grep -q '^0 ledger-0$' "$work/ledger.txt" && grep -q '^2 ledger-2$' "$work/ledger.txt" || { cat "$work/ledger.txt"; fail "the records before the damage are not served"; }
grep -q '^10 after-repair$' "$work/ledger.txt" || { cat "$work/ledger.txt"; fail "an offset was reused after the repair"; }
stop

# --- A full disk (a real 24 MiB tmpfs): produce until appends are refused, free space, produce
# again without a restart; every acknowledged record is read back exactly once.
small="$work/small"
mkdir -p "$small"
mount -t tmpfs -o size=24m tmpfs "$small" || fail "cannot mount a small tmpfs for the disk-full test (needs root)"
# (|| true: the flow unmounts it first, and a failing command in an EXIT trap under set -e would
# become the script's exit status.)
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; umount "$small" 2>/dev/null || true; rm -rf "$work"' EXIT
saved_data="$data"; data="$small/data"
start
printf 'k:first\n' | kcat -P -b "127.0.0.1:$kafka" -t full -K: -p 0
# Leave about 2 MiB free for the log.
avail=$(df --output=avail -k "$small" | tail -n 1)
fallocate -l $(( (avail - 2048) * 1024 )) "$small/filler" 2>/dev/null || dd if=/dev/zero of="$small/filler" bs=1k count=$((avail - 2048)) 2>/dev/null
PYTHONDONTWRITEBYTECODE=1 timeout 1800 python3 Tests/Clients/disk_full.py "127.0.0.1:$kafka" full "$small/filler" || fail "disk full"
kill -0 "$pid" || fail "the server died of a full disk"
stop
umount "$small"
data="$saved_data"

# --- A full disk under processors (a window and an interval join): they fail with the reason and
# retry; once space is freed, no restart, every output equals the acknowledged events', once each.
mount -t tmpfs -o size=24m tmpfs "$small" || fail "cannot mount a small tmpfs for the processors' disk-full test (needs root)"
PYTHONDONTWRITEBYTECODE=1 timeout 1800 python3 Tests/Clients/processors_disk_full.py "$bin" "$small/data" "$small/filler" || fail "processors under a full disk"
umount "$small"

# --- Out-of-range flags are refused before anything starts.
for flag in "--advertised-port=70000" "--offsets-retention-minutes=9223372036854775807" \
            "--group-initial-rebalance-delay-ms=-1" "--max-request-bytes=0" "--default-partitions=0" \
            "--transactional-id-expiration-ms=0"; do
    # shellcheck disable=SC2086
    if "$bin/stele" serve --data-dir "$data" --kafka-port 0 --http-port 0 $flag > "$work/flag.log" 2>&1; then fail "stele serve accepted $flag"; fi
    grep -q "must be" "$work/flag.log" || { cat "$work/flag.log"; fail "$flag: no range in the message"; }
done
echo "faults-test: PASS"
