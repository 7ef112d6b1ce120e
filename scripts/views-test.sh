#!/usr/bin/env bash
# The views commands of the `stele` binary against a real server: the seed's examples written by
# `stele demo`, `stele views check` naming a broken definition, `stele serve --views` logging the
# refusal before it answers, `stele views list` and `stele views rebuild` (progress lines, then
# the result), and SIGTERM stopping the server cleanly. What the server does with the views —
# the folds, read-only queries, a rebuild under readers, a restart — is asserted on structured
# status in Swift (Tests/SteleHTTPTests/ViewsEndToEndTests.swift).
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
grep -q "broken.sql:4: unknown event field.*definition refused" "$work/serve.log" || { echo "the server did not report the broken view"; cat "$work/serve.log"; exit 1; }

views_caught_up() {
    out=$("$bin/stele" views list --server "$server") && [ "$(echo "$out" | grep -c 'running     0 ')" = 4 ]
}
out=""
wait_until "$pid" "four views running with lag 0" views_caught_up || { echo "views list: $out"; exit 1; }
echo "$out" | grep -q "^balances *running *0 *0" || { echo "views list: $out"; exit 1; }
echo "$out" | grep -q "^refused: .*broken.sql:4:" || { echo "views list hides the refused file: $out"; exit 1; }

out=$("$bin/stele" views rebuild balances --server "$server")
# Progress lines appear only while the rebuild runs: one that finishes before the first status
# answer shows none (so their presence is not asserted), but every line shown is progress.
if echo "$out" | grep -v "^rebuilt balances in" | grep -qv "events/s"; then echo "rebuild showed something other than progress: $out"; exit 1; fi
echo "$out" | grep -q "^rebuilt balances in" || { echo "rebuild did not finish: $out"; exit 1; }
ls "$work/data/views/balances/" | grep -q '^2.sqlite$' || { echo "the rebuild did not make generation 2: $(ls "$work/data/views/balances")"; exit 1; }

kill -TERM "$pid"
wait "$pid" || { echo "the server did not stop cleanly"; cat "$work/serve.log"; exit 1; }
pid=""
grep -q "stopped; every partition flushed and closed" "$work/serve.log" || { echo "no clean stop"; cat "$work/serve.log"; exit 1; }
echo "Views suite: PASS"
