#!/usr/bin/env bash
# Unchanged Kafka clients against a real `stele serve` on 127.0.0.1: kcat, kafka-python,
# aiokafka and confluent-kafka round trips, malformed input, restart and graceful shutdown.
set -euo pipefail
. "$(dirname "$0")/lib/wait.sh"
export PYTHONDONTWRITEBYTECODE=1   # importing Tests/Clients/progress.py leaves no __pycache__ in the tree
bin="${1:-.build/debug}"
work=$(mktemp -d)
broker_pid=""
cleanup() {
    status=$?
    # A failure shows what the broker said: a client's error alone rarely tells why.
    if [ "$status" != 0 ] && [ -f "$work/broker.log" ]; then echo "--- broker log (last 40 lines)"; tail -n 40 "$work/broker.log"; fi
    [ -n "$broker_pid" ] && kill -9 "$broker_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_broker() {
    "$bin/stele" serve --data-dir "$work/data" --kafka-port "${1:-0}" --retention-check-interval-ms 200 --group-initial-rebalance-delay-ms 0 \
        --group-consumer-session-timeout-ms 6000 --group-consumer-heartbeat-interval-ms 500 > "$work/broker.log" 2>&1 &
    broker_pid=$!
    # Up to the stall interval (120 s) for the port; at once if the broker died.
    wait_until "$broker_pid" "the broker to listen" grep -q 'address=127.0.0.1:[0-9]' "$work/broker.log" \
        || { cat "$work/broker.log"; echo "broker did not start"; exit 1; }
    port=$(grep -o 'address=127.0.0.1:[0-9]*' "$work/broker.log" | head -n 1 | cut -d: -f2 || true)
    [ -n "$port" ] || { cat "$work/broker.log"; echo "broker did not start"; exit 1; }
    bootstrap="127.0.0.1:$port"
}

stop_broker() {
    kill -TERM "$broker_pid"
    for _ in $(seq 1 1200); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done   # up to 120 s
    if kill -0 "$broker_pid" 2>/dev/null; then echo "broker ignored SIGTERM"; exit 1; fi
    wait "$broker_pid" 2>/dev/null || true
    grep -q 'stopped; every partition flushed and closed' "$work/broker.log" || { cat "$work/broker.log"; echo "no graceful shutdown"; exit 1; }
    broker_pid=""
}

start_broker 0
echo "broker on $bootstrap"

# kcat: 10,000 keyed records with a header, acks=all, then consume and compare line by line.
topic="kcat-$$"
seq 0 9999 | awk '{printf "key-%d:value-%d\n", $1 % 97, $1}' > "$work/sent.txt"
kcat -P -b "$bootstrap" -t "$topic" -K: -H source=kcat -X acks=all -l "$work/sent.txt"
kcat -C -m 60 -b "$bootstrap" -t "$topic" -e -q -f '%k:%s|%h|%o\n' > "$work/got.txt"
awk '{printf "%s|source=kcat|%d\n", $0, NR - 1}' "$work/sent.txt" > "$work/expected.txt"
diff -q "$work/expected.txt" "$work/got.txt" >/dev/null || { diff "$work/expected.txt" "$work/got.txt" | head; echo "kcat round trip differs"; exit 1; }
echo "kcat: 10000 records round-tripped: OK"

# The topics CLI over the Kafka protocol.
"$bin/stele" topics create cli-orders --partitions 3 --config cleanup.policy=compact --bootstrap "$bootstrap" | grep -q 'created cli-orders'
if "$bin/stele" topics create cli-orders --bootstrap "$bootstrap" >/dev/null; then echo "creating a topic twice succeeded"; exit 1; fi
if "$bin/stele" topics create cli-bad --config no.such.config=1 --bootstrap "$bootstrap" >/dev/null; then echo "an unknown config was accepted"; exit 1; fi
printf 'a:1\nb:2\n' | kcat -P -b "$bootstrap" -t cli-orders -K: -p 1
"$bin/stele" topics list --bootstrap "$bootstrap" | grep -qx 'cli-orders'
"$bin/stele" topics describe cli-orders --bootstrap "$bootstrap" | grep -q 'partition 1: log start 0, log end 2, records 2'
"$bin/stele" topics delete cli-orders --bootstrap "$bootstrap" | grep -q 'deleted cli-orders'
if "$bin/stele" topics list --bootstrap "$bootstrap" | grep -qx 'cli-orders'; then echo "deleted topic still listed"; exit 1; fi
echo "stele topics create/list/describe/delete: OK"

# Retention runs on its own: old segments of a topic with retention.ms go.
"$bin/stele" topics create short-lived --config retention.ms=1 --config segment.bytes=2000 --bootstrap "$bootstrap" >/dev/null
seq 0 499 | awk '{printf "k%d:value-%d-padding-padding-padding\n", $1, $1}' | kcat -P -b "$bootstrap" -t short-lived -K: -X linger.ms=0 -X batch.num.messages=1
retention_ran() {
    start=$("$bin/stele" topics describe short-lived --bootstrap "$bootstrap" | grep -o 'log start [0-9]*' | grep -o '[0-9]*')
    [ "${start:-0}" -gt 0 ]
}
wait_until "$broker_pid" "retention to delete a segment of short-lived" retention_ran \
    || { echo "retention never deleted a segment"; exit 1; }
echo "retention.ms: segments deleted in the background (log start $start): OK"

# acks=0: the broker sends no response (clients would see out-of-order correlation ids), and
# the records still land.
seq 0 999 | awk '{printf "k%d:v%d\n", $1, $1}' | kcat -P -b "$bootstrap" -t acks0 -K: -X acks=0
progress_start
while true; do
    count=$(kcat -C -m 60 -b "$bootstrap" -t acks0 -e -q -f '%o\n' | wc -l)
    [ "$count" -eq 1000 ] && break
    progress_check "the acks=0 records to be stored" "$count" || break
    sleep 0.1
done
[ "$count" -eq 1000 ] || { echo "acks=0: $count of 1000 records stored"; exit 1; }
echo "acks=0: 1000 records stored: OK"

# Transactions: confluent-kafka, kafka-python and aiokafka transactional producers;
# read_committed consumers; fencing; timeouts; consume-transform-produce exactly once.
timeout 1800 python3 Tests/Clients/transactions.py "$bootstrap"
# Transaction version 2 (KIP-890 part 2: the epoch bumped at every end) spoken by hand with
# kafka-python's schema-generated protocol classes: no Python or C client speaks it yet.
timeout 1800 python3 Tests/Clients/transactions_v2.py "$bootstrap"
# A Jepsen-style checker of transactions while a broker of its own is SIGKILLed and SIGSTOPped.
timeout 1800 python3 Tests/Clients/transactions_faults.py "$bin" --cycles 12
# stele mirror between two brokers of its own: SIGKILLed mid-way, then every segment byte for
# byte, the same records both isolation levels, producers refused until promote.
timeout 1800 python3 Tests/Clients/mirror.py "$bin"
# stele mirror --offsets translate into ordinary topics (the target standing in for any Kafka
# cluster): the mirror SIGKILLed again and again under live producers, the target once; every
# committed record once, in order; a group's offsets translated, never past its next record.
timeout 1800 python3 Tests/Clients/mirror_translate.py "$bin"
# The mirror against clusters of two brokers (Tests/Clients/fake_cluster.py): fetches, offsets and
# produces at each partition's leader, transactions and group offsets at the coordinator.
timeout 1800 python3 Tests/Clients/mirror_cluster.py "$bin"
# The mirror inside the target node (stele serve --mirror-source): its lag in /metrics and /topics.
timeout 1800 python3 Tests/Clients/mirror_lag.py "$bin"
# Between two network namespaces through a lossy proxy of its own: a 30 s cut, the target SIGKILLed.
timeout 1800 python3 Tests/Clients/mirror_netns.py "$bin"
# stele cdc postgres against a PostgreSQL cluster of its own: the capture, Stele and PostgreSQL
# SIGKILLed under a writer; every row's stream folded equals the table, nothing lost or doubled.
timeout 1800 python3 Tests/Clients/cdc.py "$bin"
# Its edges: rows larger than an append, a row larger than any, refused identities, a dropped
# slot, a TimeZone change, a re-created table, a slot moved on while other tables change.
timeout 1800 python3 Tests/Clients/cdc_edges.py "$bin"

timeout 1800 python3 Tests/Clients/expected_version.py "$bootstrap"
timeout 1800 python3 Tests/Clients/expected_version_confluent.py "$bootstrap"

# The admin calls of confluent-kafka and kafka-python: configs changed live, partitions, log dirs.
timeout 1800 python3 -W ignore::DeprecationWarning Tests/Clients/admin.py "$bootstrap"

# Old protocol versions (Produce v0–2, Fetch v0–3: message formats v0 and v1, converted).
timeout 1800 python3 -W ignore::DeprecationWarning Tests/Clients/old_clients.py "$bootstrap"

# Client quotas: set and described over the protocol; throttled producers and consumers lose nothing.
timeout 1800 python3 -W ignore::DeprecationWarning Tests/Clients/quotas.py "$bootstrap"

"$bin/stele" topics create appendtime --config message.timestamp.type=LogAppendTime --bootstrap "$bootstrap" >/dev/null
timeout 1800 python3 Tests/Clients/log_append_time.py "$bootstrap" appendtime

# Compression: stored as sent, read back by the client. (librdkafka 2.0.2 enables lz4 only
# because FindCoordinator is advertised from v0.)
for codec in gzip snappy lz4 zstd; do
    seq 0 1999 | awk -v c="$codec" '{printf "key-%d:%s-value-%d-%s\n", $1 % 13, c, $1, "compressible compressible compressible"}' > "$work/sent-$codec.txt"
    kcat -P -b "$bootstrap" -t "codec-$codec" -K: -z "$codec" -X acks=all -l "$work/sent-$codec.txt"
    kcat -C -m 60 -b "$bootstrap" -t "codec-$codec" -e -q -f '%k:%s\n' > "$work/got-$codec.txt"
    diff -q "$work/sent-$codec.txt" "$work/got-$codec.txt" >/dev/null || { echo "kcat $codec round trip differs"; exit 1; }
    "$bin/stele" log dump "$work/data/topics/codec-$codec/0" --batches-only | grep -q "codec $codec" || { echo "$codec batches were not stored compressed"; exit 1; }
    echo "kcat -z $codec: 2000 records round-tripped, stored compressed: OK"
done

for client in kafka-python aiokafka confluent; do
    timeout 1800 python3 Tests/Clients/roundtrip.py --client "$client" --bootstrap "$bootstrap"
done
for codec in lz4 gzip; do
    timeout 1800 python3 Tests/Clients/roundtrip.py --client kafka-python --compression "$codec" --bootstrap "$bootstrap"
done

# Idempotent producers while the broker is SIGKILLed twice and restarted on the same port.
fixed_port=$port
for client in kafka-python confluent; do
    rm -f "$work/ready"
    timeout 1800 python3 Tests/Clients/idempotence.py --client "$client" --bootstrap "$bootstrap" --count 20000 --ready "$work/ready" &
    producer=$!
    # The first kill waits for the producer to be streaming (it creates the ready file); the
    # second for the restarted broker to listen again (start_broker).
    wait_until "$producer" "the $client producer to start streaming" test -f "$work/ready" \
        || { kill "$producer" 2>/dev/null || true; wait "$producer" 2>/dev/null || true; tail -20 "$work/broker.log"; echo "$client producer never started streaming"; exit 1; }
    for round in 1 2; do
        sleep 0.3
        kill -9 "$broker_pid"; wait "$broker_pid" 2>/dev/null || true
        start_broker "$fixed_port"
    done
    wait "$producer" || { tail -20 "$work/broker.log"; echo "$client idempotence across SIGKILL failed"; exit 1; }
done

# Consumer groups: each client consumes part, commits, and a second member of the group
# resumes from the committed offset.
for client in kafka-python aiokafka confluent rebalance; do
    timeout 1800 python3 Tests/Clients/groups.py --client "$client" --bootstrap "$bootstrap"
done
# KIP-848: librdkafka with group.protocol=consumer, members joining, leaving and SIGKILLed.
timeout 1800 python3 Tests/Clients/consumer_protocol.py "$bootstrap"
# The flexible group and topic APIs as kafka-python 3 and librdkafka send them: several groups'
# offsets at once, state and type filters, a static member removed by its instance id,
# ConsumerGroupDescribe, DeleteTopics v6, CreateTopics v7.
timeout 1800 python3 Tests/Clients/group_admin.py "$bootstrap"
group_topic="kcat-group-$$"
seq 0 499 | awk '{printf "k%d:v%d\n", $1, $1}' | kcat -P -b "$bootstrap" -t "$group_topic" -K:
got=$(timeout 600 kcat -G kcat-group -b "$bootstrap" -o beginning -e -q "$group_topic" | wc -l)
[ "$got" -eq 500 ] || { echo "kcat -G consumed $got of 500"; exit 1; }
echo "kcat -G: 500 records through a consumer group: OK"
# Committed offsets survive a SIGKILL of the broker (commits are acknowledged once durable).
kill -9 "$broker_pid"; wait "$broker_pid" 2>/dev/null || true
start_broker "$fixed_port"
"$bin/stele" groups describe kcat-group --bootstrap "$bootstrap" | grep -q "$group_topic 0 500 500 0" \
    || { "$bin/stele" groups describe kcat-group --bootstrap "$bootstrap"; echo "committed offsets lost in a SIGKILL"; exit 1; }
echo "SIGKILL: committed group offsets still there: OK"

timeout 1800 python3 Tests/Clients/garbage.py "$bootstrap"
# Small requests naming one thing thousands of times: answered once, nothing done twice.
timeout 1800 python3 Tests/Clients/amplification.py "$bootstrap"
kcat -L -m 60 -b "$bootstrap" -t "$topic" | grep -q "topic \"$topic\" with 1 partitions" || { echo "broker unusable after malformed input"; exit 1; }
echo "malformed input: broker still serving: OK"

# Restart: the data survives a graceful stop and start.
stop_broker
start_broker 0
count=$(kcat -C -m 60 -b "$bootstrap" -t "$topic" -e -q -f '%o\n' | wc -l)
[ "$count" -eq 10000 ] || { echo "after restart $count records, expected 10000"; exit 1; }
echo "restart: 10000 records still there: OK"
# kcat -G committed its position on exit; the commit survives the restart and shows no lag.
"$bin/stele" groups list --bootstrap "$bootstrap" | grep -qx kcat-group || { echo "kcat-group lost in the restart"; exit 1; }
"$bin/stele" groups describe kcat-group --bootstrap "$bootstrap" | grep -q "$group_topic 0 500 500 0" \
    || { "$bin/stele" groups describe kcat-group --bootstrap "$bootstrap"; echo "committed offsets lost in the restart"; exit 1; }
echo "restart: committed group offsets still there, stele groups describe shows lag 0: OK"
stop_broker
echo "graceful shutdown: OK"
echo "client suite: PASS"
