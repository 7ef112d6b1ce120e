#!/usr/bin/env bash
# Views end to end on a real server: the seed's examples written by `stele demo`, then
# `stele serve --views` with the example definition files and a broken one; the broken one is
# refused with file and line while the others fold the examples; a rebuild shows its progress
# and queries answer all along; SIGTERM stops the server cleanly.
set -euo pipefail
. "$(dirname "$0")/lib/wait.sh"
bin="${1:-.build/debug}"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/defs"
cp Examples/views/*.sql "$work/defs/"
printf -- '-- @categories accounts\nCREATE TABLE x (a TEXT);\n-- @on MoneyDeposited (amount integer)\nINSERT INTO x VALUES (:data.amont);\n' > "$work/defs/broken.sql"

"$bin/stele" demo bank --data-dir "$work/data" >/dev/null
"$bin/stele" demo cart --data-dir "$work/data" >/dev/null
"$bin/stele" demo inventory --data-dir "$work/data" >/dev/null

if out=$("$bin/stele" views check "$work/defs"); then echo "views check passed a broken file: $out"; exit 1; fi
echo "$out" | grep -q "broken.sql:4: unknown event field :data.amont" || { echo "views check did not name the mistake: $out"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server="http://127.0.0.1:$port"
"$bin/stele" serve --data-dir "$work/data" --views "$work/defs" --kafka-port 0 --http-port "$port" > "$work/serve.log" 2>&1 &
pid=$!
wait_until "$pid" "the server to answer $server/health" curl -sf -o /dev/null "$server/health" || { cat "$work/serve.log"; exit 1; }
grep -q "broken.sql:4: unknown event field.*view refused" "$work/serve.log" || { echo "the server did not report the broken view"; cat "$work/serve.log"; exit 1; }

views_caught_up() {
    out=$("$bin/stele" views list --server "$server") && [ "$(echo "$out" | grep -c 'running     0 ')" = 3 ]
}
out=""
wait_until "$pid" "three views running with lag 0" views_caught_up || { echo "views list: $out"; exit 1; }
echo "$out" | grep -q "^balances *running *0 *0" || { echo "views list: $out"; exit 1; }
echo "$out" | grep -q "^refused: .*broken.sql:4:" || { echo "views list hides the refused file: $out"; exit 1; }

query() { curl -sf -XPOST -H 'Content-Type: application/json' "$server/views/$1/query" -d "$2"; }
query balances '{"sql":"SELECT balance, deposits, withdrawals FROM balances"}' | grep -q '"balance":130,"deposits":1,"withdrawals":1' || { echo "balances view is wrong"; exit 1; }
query cart_lines '{"sql":"SELECT sku, quantity FROM cart_lines"}' | grep -q '"quantity":1,"sku":"trousers"' || { echo "cart view is wrong"; exit 1; }
query stock '{"sql":"SELECT available FROM stock"}' | grep -q '"available":25' || { echo "stock view is wrong"; exit 1; }
# Read-only, parameters bound, mistakes as problem details.
code=$(curl -s -o "$work/problem.json" -w '%{http_code}' -XPOST -H 'Content-Type: application/json' "$server/views/balances/query" -d '{"sql":"DELETE FROM balances"}')
[ "$code" = 403 ] && grep -q '"title":"queries are read-only"' "$work/problem.json" || { echo "a write was not refused: $code $(cat "$work/problem.json")"; exit 1; }
query balances '{"sql":"SELECT count(*) AS n FROM balances WHERE balance > :min","params":{"min":100}}' | grep -q '"n":1' || { echo "parameters not bound"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/json' "$server/views/balances/query" -d '{"sql": 1')
[ "$code" = 400 ] || { echo "malformed JSON got $code"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$server/views/nope")
[ "$code" = 404 ] || { echo "unknown view got $code"; exit 1; }

# A rebuild while a reader keeps querying: every query answers, with the same balance.
( for _ in $(seq 200); do query balances '{"sql":"SELECT balance FROM balances"}' | grep -q '"balance":130' || { echo "QUERY FAILED"; exit 1; }; done ) > "$work/reader.log" 2>&1 &
reader=$!
out=$("$bin/stele" views rebuild balances --server "$server")
# Progress lines appear only while the rebuild runs: one that finishes before the first status
# answer shows none (so their presence is not asserted), but every line shown is progress.
if echo "$out" | grep -v "^rebuilt balances in" | grep -qv "events/s"; then echo "rebuild showed something other than progress: $out"; exit 1; fi
echo "$out" | grep -q "^rebuilt balances in" || { echo "rebuild did not finish: $out"; exit 1; }
wait "$reader" || { echo "a query failed during the rebuild: $(cat "$work/reader.log")"; exit 1; }
ls "$work/data/views/balances/" | grep -q '^2.sqlite$' || { echo "the rebuild did not make generation 2: $(ls "$work/data/views/balances")"; exit 1; }

kill -TERM "$pid"
wait "$pid" || { echo "the server did not stop cleanly"; cat "$work/serve.log"; exit 1; }
pid=""
grep -q "stopped; every partition flushed and closed" "$work/serve.log" || { echo "no clean stop"; cat "$work/serve.log"; exit 1; }
echo "Views suite: PASS"
