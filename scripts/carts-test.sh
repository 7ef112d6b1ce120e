#!/usr/bin/env bash
# The shopping-cart microservices end to end: `stele serve`, the inventory, shipping
# (PostgreSQL) and analytics services as their own processes following it over HTTP, the Python
# fraud consumer in a Kafka consumer group, and scripted shoppers. Mid-run, inventory and the
# fraud consumer are killed with SIGKILL and restarted; at the end every service's view must
# equal a fold of the log (scripts/carts-verify.py): nothing lost, nothing counted twice.
#
#   scripts/carts-test.sh BIN_DIR   (needs STELE_TEST_POSTGRES_URL: scripts/postgres-test-cluster.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/wait.sh
export PYTHONDONTWRITEBYTECODE=1   # importing Tests/Clients/progress.py leaves no __pycache__ in the tree
BIN=${1:-.build/debug}
: "${STELE_TEST_POSTGRES_URL:?start a cluster with scripts/postgres-test-cluster.sh}"
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(free_port); KAFKA=$(free_port)
URL="http://127.0.0.1:$HTTP"
DB="carts_$$"
psql "$STELE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $DB" >/dev/null
PG_URL="${STELE_TEST_POSTGRES_URL%/*}/$DB"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql "$STELE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/stele" serve --data-dir "$WORK/data" --kafka-port "$KAFKA" --http-port "$HTTP" --log-level warning >"$WORK/serve.log" 2>&1 &
SERVE=$!
PIDS+=("$SERVE")
wait_until "$SERVE" "stele serve to answer $URL/health" curl -sf -o /dev/null "$URL/health" || { cat "$WORK/serve.log"; exit 1; }
curl -sf -XPOST -H 'Content-Type: application/json' "$URL/topics" -d '{"name":"carts","partitions":3}' >/dev/null

start_service() { "$BIN/stele" demo carts service "$1" --url "$URL" --dir "$WORK/$1" --postgres-url "$PG_URL" >>"$WORK/$1.log" 2>&1 & echo $!; }
start_fraud() { python3 Examples/carts/fraud.py --bootstrap "127.0.0.1:$KAFKA" --db "$WORK/fraud.sqlite" >>"$WORK/fraud.log" 2>&1 & echo $!; }
INVENTORY=$(start_service inventory); SHIPPING=$(start_service shipping); ANALYTICS=$(start_service analytics); FRAUD=$(start_fraud)
PIDS+=("$SHIPPING" "$ANALYTICS")

"$BIN/stele" demo carts shop --url "$URL" --carts 150 --seed 1 --prefix a >"$WORK/shop1.log" &
SHOP=$!
# Mid-run: once the shoppers have appended 200 events (counted from the category's end, not
# waited for by the clock, so a slow machine still kills them with work in flight).
carts_events() { curl -sf "$URL/categories/carts" | python3 -c 'import json,sys; print(sum(int(p.split(":")[1].split("/")[-1]) for p in json.load(sys.stdin)["end"].split(",") if p))'; }
progress_start
while true; do
    N=$(carts_events || echo 0)
    [ "$N" -ge 200 ] && break
    kill -0 "$SHOP" 2>/dev/null || break
    progress_check "the shoppers to append 200 events" "$N" || exit 1
    sleep 0.1
done
kill -9 "$INVENTORY" "$FRAUD"; wait "$INVENTORY" "$FRAUD" 2>/dev/null || true
echo "killed inventory and fraud mid-run (SIGKILL)"
wait "$SHOP"
"$BIN/stele" demo carts shop --url "$URL" --carts 100 --seed 2 --prefix b >"$WORK/shop2.log"
INVENTORY=$(start_service inventory); FRAUD=$(start_fraud)
PIDS+=("$INVENTORY" "$FRAUD")
echo "restarted them; $(cat "$WORK/shop1.log") / $(cat "$WORK/shop2.log")"

python3 scripts/carts-verify.py "$URL" "$WORK/inventory" "$WORK/analytics" "$PG_URL" "$WORK/fraud.sqlite" \
    || { for f in "$WORK"/*.log; do echo "== $f"; tail -n 5 "$f"; done; exit 1; }

# The fraud group, live, over HTTP: a member, and no lag once it has caught up (waiting as long
# as its members or lag keep changing, up to the stall interval when they stop).
progress_start
while true; do
    GROUP=$(curl -sf "$URL/groups/fraud")
    STATE=$(python3 -c 'import json,sys; g=json.loads(sys.argv[1]); m, lag = g.get("members") or [], g.get("lag"); print("caught-up" if m and lag == 0 else "%d member(s), lag %s" % (len(m), lag))' "$GROUP")
    [ "$STATE" = caught-up ] && break
    progress_check "the fraud group to catch up" "$STATE" || break
    sleep 0.2
done
python3 -c 'import json,sys; g=json.loads(sys.argv[1]); assert g["members"] and g["lag"] == 0, g; print("group fraud:", g["state"], len(g["members"]), "member(s), lag", g["lag"])' "$GROUP"
curl -sf "$URL/metrics" | grep -c 'stele_consumer_group_lag{group="fraud"' >/dev/null || { echo "no fraud lag in /metrics"; exit 1; }
echo "carts suite: PASS"
