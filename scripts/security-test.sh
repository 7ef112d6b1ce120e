#!/usr/bin/env bash
# TLS and SASL with real clients (kcat, kafka-python, aiokafka, confluent-kafka) against a real
# `stele serve` with four listeners, certificates made with openssl here; the refusals (wrong
# password, unknown user, bad SCRAM, requests before authenticating, plaintext on a TLS port,
# missing or foreign client certificates); no password in the log or the data directory;
# failures counted in /metrics; unauthenticated listeners on network addresses refused; then
# ACLs: `stele acls`, and a server with --authorizer acl refusing and allowing real clients;
# then `stele mirror` from a SASL_SSL source into an ACL target (Tests/Clients/mirror_security.py).
set -euo pipefail
. "$(dirname "$0")/lib/wait.sh"
export PYTHONDONTWRITEBYTECODE=1
bin="${1:-.build/debug}"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "security suite: $*"; [ -f "$work/serve.log" ] && tail -n 30 "$work/serve.log"; exit 1; }

# Certificates: a CA, the server's (localhost, 127.0.0.1), a client's, and a client's from another CA.
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=Stele Test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.pem -days 2 -subj "/CN=Rogue CA" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
sign() { # NAME SUBJECT CA [EXT]
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days 2 ${4:+-extfile "$4"} 2>/dev/null
}
sign server "/CN=localhost" ca san.ext
sign client "/C=FR/O=Example/OU=payments/CN=alice" ca
sign rogue "/CN=alice" rogue-ca
cd - >/dev/null

# Users, on the stopped server's data directory; passwords from standard input only.
missing=$(echo "alice-secret" | "$bin/stele" users create alice --data-dir "$work/data" 2>&1 || true)
grep -q 'no data directory' <<< "$missing" || fail "users create accepted a missing data directory: $missing"
mkdir -p "$work/data"
echo "alice-secret" | "$bin/stele" users create alice --data-dir "$work/data" | grep -qx 'created User:alice' || fail "users create alice"
echo "bob-first" | "$bin/stele" users create bob --data-dir "$work/data" --mechanism SCRAM-SHA-512 >/dev/null || fail "users create bob"
echo "bob-pw" | "$bin/stele" users passwd bob --data-dir "$work/data" --mechanism SCRAM-SHA-512 >/dev/null || fail "users passwd bob"
if echo "x" | "$bin/stele" users create alice --data-dir "$work/data" >/dev/null 2>&1; then fail "a user was created twice"; fi
if echo "x" | "$bin/stele" users create eve --data-dir "$work/data" --iterations 100 >/dev/null 2>&1; then fail "100 iterations were accepted"; fi
echo "eve-pw" | "$bin/stele" users create eve --data-dir "$work/data" >/dev/null
"$bin/stele" users delete eve --data-dir "$work/data" | grep -qx 'deleted User:eve' || fail "users delete"
"$bin/stele" users list --data-dir "$work/data" > "$work/users.txt"
grep -q '^User:alice	SCRAM-SHA-256 (4096 iterations), SCRAM-SHA-512 (4096 iterations)$' "$work/users.txt" || { cat "$work/users.txt"; fail "users list (alice)"; }
grep -q '^User:bob	SCRAM-SHA-512 (4096 iterations)$' "$work/users.txt" || { cat "$work/users.txt"; fail "users list (bob)"; }
! grep -q eve "$work/users.txt" || fail "a deleted user is listed"
echo "stele users create/passwd/list/delete: OK"

# Unauthenticated listeners on addresses other machines reach are refused, and say why.
if "$bin/stele" serve --data-dir "$work/refused" --listen 0.0.0.0 --kafka-port 0 --http-port 0 > "$work/refused.log" 2>&1; then fail "PLAINTEXT on 0.0.0.0 started"; fi
grep -q 'allow-unauthenticated-network-access' "$work/refused.log" || { cat "$work/refused.log"; fail "the refusal does not name the flag"; }
if "$bin/stele" serve --data-dir "$work/refused" --listeners 'SSL://0.0.0.0:0' --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
    --http-port 0 > "$work/refused.log" 2>&1; then fail "SSL without client certificates on 0.0.0.0 started"; fi
if "$bin/stele" serve --data-dir "$work/refused" --listeners 'SASL_SSL://127.0.0.1:0' --http-port 0 > "$work/refused.log" 2>&1; then fail "SASL_SSL without a certificate started"; fi
grep -q 'needs --tls-cert' "$work/refused.log" || { cat "$work/refused.log"; fail "the refusal does not name --tls-cert"; }
echo "unauthenticated network listeners refused: OK"

"$bin/stele" serve --data-dir "$work/data" --http-port 0 --group-initial-rebalance-delay-ms 0 \
    --listeners 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0' \
    --tls-cert "$work/server.pem" --tls-key "$work/server.key" --tls-client-ca "$work/ca.pem" \
    --sasl-mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 --http-tls > "$work/serve.log" 2>&1 &
pid=$!
wait_until "$pid" "the server to serve HTTP" grep -q 'serving HTTP' "$work/serve.log" || fail "did not start"
port_of() { grep "serving the Kafka protocol" "$work/serve.log" | grep "protocol=$1 " | grep -o 'address=127.0.0.1:[0-9]*' | cut -d: -f2; }
plain=$(port_of PLAINTEXT); sasl_ssl=$(port_of SASL_SSL); sasl_plain=$(port_of SASL_PLAINTEXT); tls=$(port_of SSL)
http=$(grep 'serving HTTP' "$work/serve.log" | grep -o 'address=127.0.0.1:[0-9]*' | cut -d: -f2)
[ -n "$plain" ] && [ -n "$sasl_ssl" ] && [ -n "$sasl_plain" ] && [ -n "$tls" ] || fail "listeners not in the log"
echo "listeners: PLAINTEXT $plain, SASL_SSL $sasl_ssl, SASL_PLAINTEXT $sasl_plain, SSL $tls"

python3 "$(dirname "$0")/../Tests/Clients/security.py" "$work" "$plain" "$sasl_ssl" "$sasl_plain" "$tls" || fail "client cases"

# kcat (librdkafka) over SASL_SSL with SCRAM-SHA-512.
kcat_sasl=(-b "127.0.0.1:$sasl_ssl" -X security.protocol=SASL_SSL -X ssl.ca.location="$work/ca.pem"
           -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=alice-secret)
seq 1 100 | kcat -P "${kcat_sasl[@]}" -t kcat-sasl
kcat -C "${kcat_sasl[@]}" -t kcat-sasl -e -q -c 100 > "$work/kcat.txt"
[ "$(wc -l < "$work/kcat.txt")" = 100 ] || fail "kcat over SASL_SSL read $(wc -l < "$work/kcat.txt") of 100"
echo "kcat SASL_SSL SCRAM-SHA-512: 100 records round-tripped: OK"

# Failures are counted for /metrics; no password anywhere on disk or in the log.
# The HTTP API over TLS (--http-tls): the listeners' certificate; plain HTTP gets no answer.
curl -sf --cacert "$work/ca.pem" "https://127.0.0.1:$http/metrics" > "$work/metrics.txt" || fail "/metrics over HTTPS"
if curl -sf --max-time 60 "http://127.0.0.1:$http/health" >/dev/null 2>&1; then fail "plain HTTP answered on the TLS port"; fi
echo "HTTP API over TLS (--http-tls); plain HTTP refused: OK"
failed=$(grep '^stele_sasl_authentication_failures_total' "$work/metrics.txt" | awk '{print $2}')
[ -n "$failed" ] && [ "${failed%.*}" -ge 6 ] || fail "stele_sasl_authentication_failures_total is '$failed', expected ≥ 6"
grep -q '^stele_sasl_authentications_total' "$work/metrics.txt" || fail "no stele_sasl_authentications_total"
grep -q 'SASL authentication failed' "$work/serve.log" || fail "failed attempts are not logged"
for secret in alice-secret bob-pw bob-first eve-pw guess; do
    if grep -rqa -- "$secret" "$work/data" "$work/serve.log" "$work/metrics.txt"; then fail "the password '$secret' is in clear: $(grep -rla -- "$secret" "$work/data" "$work/serve.log")"; fi
done
[ "$(stat -c %a "$work/data/security")" = 700 ] || fail "DATA/security is readable by others"
echo "no password in the log, /metrics or the data directory; failures counted ($failed): OK"

kill -TERM "$pid"
wait_until "$$" "the server to stop" bash -c "! kill -0 $pid 2>/dev/null" || fail "did not stop"
wait "$pid" 2>/dev/null || true
pid=""
grep -q 'stopped; every partition flushed and closed' "$work/serve.log" || fail "no graceful shutdown"

# ---- ACLs: `stele acls` on a stopped data directory, then a server deciding every request with them.
acl_dir="$work/acl-data"
mkdir -p "$acl_dir"
acls() { "$bin/stele" acls "$@" --data-dir "$acl_dir"; }
for user in admin alice bob; do echo "$user-pw" | "$bin/stele" users create "$user" --data-dir "$acl_dir" --mechanism SCRAM-SHA-256 >/dev/null; done
acls add --principal User:alice --operation WRITE --operation CREATE --topic orders- --prefixed >/dev/null
acls add --principal User:alice --operation READ --topic orders-in >/dev/null
acls add --principal User:alice --operation READ --group g-alice >/dev/null
acls add --principal User:alice --operation WRITE --topic orders-secret --deny | grep -qx 'added DENY User:alice from \* WRITE on Topic:orders-secret' \
    || fail "acls add --deny"
acls add --principal User:bob --operation READ --topic orders-in >/dev/null
acls add --principal 'User:CN=alice,OU=payments,O=Example,C=FR' --operation ALL --topic tls- --prefixed >/dev/null
acls add --principal 'User:CN=alice,OU=payments,O=Example,C=FR' --operation READ --group tls- --prefixed >/dev/null
acls add --principal User:eve --operation WRITE --topic x >/dev/null
acls remove --principal User:eve --topic x | grep -qx 'removed ALLOW User:eve from \* WRITE on Topic:x' || fail "acls remove"
if acls remove --principal User:eve --topic x >/dev/null 2>&1; then fail "removing nothing succeeded"; fi
[ "$(acls list | wc -l)" = 8 ] || { acls list; fail "acls list does not show the eight ACLs"; }
[ "$(acls list --principal User:bob)" = "ALLOW User:bob from * READ on Topic:orders-in" ] || fail "acls list --principal"
[ "$(acls list --topic orders-x | wc -l)" = 2 ] || fail "acls list --topic does not show the prefixed ACL covering it"
# A view ACL (Stele's own resource type: Kafka's ACL APIs never show it) for the HTTP cases.
acls add --principal User:alice --operation READ --view balances >/dev/null
for bad in "--principal alice --operation READ --topic t" "--principal User:a --operation FLY --topic t" \
           "--principal User:a --operation READ --topic t --group g" "--principal User:a --operation READ" \
           "--principal User:a --operation READ --cluster --prefixed"; do
    # shellcheck disable=SC2086
    if acls add $bad >/dev/null 2>&1; then fail "acls add $bad was accepted"; fi
done
echo "stele acls add/list/remove and their refusals: OK"

# An array, not a function: `$!` must be the server's pid, not a subshell's.
acl_serve=("$bin/stele" serve --data-dir "$acl_dir" --http-listen 127.0.0.1 --http-port 0 --group-initial-rebalance-delay-ms 0
    --listeners 'SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0' --sasl-mechanisms SCRAM-SHA-256
    --tls-cert "$work/server.pem" --tls-key "$work/server.key" --tls-client-ca "$work/ca.pem"
    --authorizer acl --super-users 'User:ops,User:CN=nobody,O=Example,User:admin')
# HTTP tokens, made on the stopped directory: one valid, one revoked, one expired.
tokens() { "$bin/stele" tokens "$@" --data-dir "$acl_dir"; }
alice_token=$(tokens create --principal User:alice 2>/dev/null)
admin_token=$(tokens create --principal User:admin 2>/dev/null)
revoked_token=$(tokens create --principal User:alice 2>/dev/null)
expired_token=$(tokens create --principal User:alice --expires 1s 2>/dev/null)
revoked_id=${revoked_token#stele_}; revoked_id=${revoked_id%%_*}
tokens revoke "$revoked_id" | grep -qx "revoked $revoked_id" || fail "tokens revoke"
[ "$(tokens list | wc -l)" = 3 ] || { tokens list; fail "tokens list"; }
if tokens list | grep -q -- "${alice_token#stele_*_}"; then fail "tokens list shows a secret"; fi
if tokens create --principal alice >/dev/null 2>&1; then fail "a token for a principal without a type"; fi
if tokens create --principal User:a --expires 5x >/dev/null 2>&1; then fail "--expires 5x accepted"; fi
mkdir -p "$work/acl-views" && cp "$(dirname "$0")/../Examples/views/balances.sql" "$work/acl-views/"
"${acl_serve[@]}" --views "$work/acl-views" > "$work/acl-serve.log" 2>&1 &
pid=$!
wait_until "$pid" "the ACL server to serve HTTP" grep -q 'serving HTTP' "$work/acl-serve.log" || { cat "$work/acl-serve.log"; fail "the ACL server did not start"; }
grep -q 'super users=\["User:CN=nobody,O=Example", "User:admin", "User:ops"\] .*authorizing requests with ACLs' "$work/acl-serve.log" \
    || { grep 'authorizing' "$work/acl-serve.log"; fail "--super-users with a certificate subject in a comma list"; }
grep -q 'acls=9 .*authorizing requests with ACLs' "$work/acl-serve.log" || { cat "$work/acl-serve.log"; fail "no authorizer line"; }
acl_port() { grep "serving the Kafka protocol" "$work/acl-serve.log" | grep "protocol=$1 " | grep -o 'address=127.0.0.1:[0-9]*' | cut -d: -f2; }
acl_http=$(grep 'serving HTTP' "$work/acl-serve.log" | grep -o 'address=127.0.0.1:[0-9]*' | cut -d: -f2)
python3 "$(dirname "$0")/../Tests/Clients/acls.py" "$work" "$(acl_port SASL_SSL)" "$(acl_port SSL)" || { tail -n 30 "$work/acl-serve.log"; fail "ACL client cases"; }

# The HTTP API with the same principals and ACLs: tokens, Basic, 401 and 403 as problem details.
api="http://127.0.0.1:$acl_http"
status() { curl -s -o "$work/http.json" -w '%{http_code}' "$@"; }
[ "$(status "$api/health")" = 200 ] || fail "/health is not open"
[ "$(status "$api/topics")" = 401 ] || fail "/topics without credentials is not 401"
grep -q '"title":"authentication required"' "$work/http.json" || fail "401 is not a problem detail: $(cat "$work/http.json")"
curl -s -D - -o /dev/null "$api/topics" | grep -qi '^www-authenticate: Bearer realm="stele"' || fail "no WWW-Authenticate"
[ "$(status -H 'Authorization: Bearer stele_000000000000_forged' "$api/topics")" = 401 ] || fail "a forged token was accepted"
[ "$(status -H "Authorization: Bearer $revoked_token" "$api/streams/orders-in/1")" = 401 ] || fail "a revoked token was accepted"
[ "$(status -H "Authorization: Bearer $expired_token" "$api/streams/orders-in/1")" = 401 ] || fail "an expired token was accepted"
[ "$(status -H "Authorization: Bearer $alice_token" "$api/topics")" = 403 ] || fail "alice listed topics without DESCRIBE on the cluster"
grep -q '"title":"not authorized"' "$work/http.json" || fail "403 is not a problem detail"
[ "$(status -H "Authorization: Bearer $admin_token" "$api/topics")" = 200 ] || fail "the super user's token cannot list topics"
code=$(status -X POST -H "Authorization: Bearer $alice_token" -H 'Content-Type: application/json' \
    -d '[{"type":"OrderPlaced","data":{"n":1}}]' "$api/streams/orders-http/1")
[ "$code" = 201 ] || [ "$code" = 200 ] || fail "alice could not append to orders-http ($code: $(cat "$work/http.json"))"
[ "$(status -X POST -H "Authorization: Bearer $alice_token" -H 'Content-Type: application/json' \
    -d '[{"type":"Leak","data":{}}]' "$api/streams/orders-secret/1")" = 403 ] || fail "the DENY on orders-secret did not hold over HTTP"
[ "$(status -H "Authorization: Bearer $alice_token" "$api/streams/hidden/1")" = 403 ] || fail "alice read a stream without READ"
[ "$(status -u alice:alice-pw "$api/streams/orders-in/1")" != 401 ] || fail "HTTP Basic with alice's password was refused"
[ "$(status -u alice:wrong "$api/streams/orders-in/1")" = 401 ] || fail "HTTP Basic with a wrong password was accepted"
query='{"sql":"SELECT count(*) AS n FROM balances"}'
[ "$(status -X POST -u bob:bob-pw -H 'Content-Type: application/json' -d "$query" "$api/views/balances/query")" = 403 ] \
    || fail "bob queried a view without READ on it"
[ "$(status -X POST -H "Authorization: Bearer $alice_token" -H 'Content-Type: application/json' -d "$query" "$api/views/balances/query")" = 200 ] \
    || fail "alice could not query the view she may read: $(cat "$work/http.json")"
[ "$(status "$api/metrics")" = 401 ] || fail "/metrics answered without credentials"
[ "$(status -H "Authorization: Bearer $admin_token" "$api/metrics")" = 200 ] || fail "/metrics refused the super user"
! curl -s -D - -o /dev/null -H 'Origin: https://evil.example' -H "Authorization: Bearer $alice_token" "$api/streams/orders-in/1" \
    | grep -qi '^access-control-allow-origin' || fail "a CORS header was sent"
"$bin/stele" views list --server "$api" --token "$admin_token" | grep -q '^balances' || fail "stele views list --token"
if "$bin/stele" views list --server "$api" >/dev/null 2>&1; then fail "stele views list without a token succeeded"; fi
echo "HTTP: /health open; no, forged, revoked and expired tokens 401; ACLs 403 (topics, DENY, view query); Basic; /metrics needs a token; views CLI with --token: OK"

# `stele users` against the running server, through the admin API over SASL_SSL (kafka-configs.sh's way).
props() { printf 'security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=%s\nsasl.password=%s\nssl.ca.location=%s\n' "$1" "$2" "$work/ca.pem" > "$work/$1.properties"; }
props admin admin-pw; props alice alice-pw
live=(--bootstrap "127.0.0.1:$(acl_port SASL_SSL)" --command-config "$work/admin.properties")
login_as() { # USER PASSWORD: prints "in" when the login succeeds (listing users is then refused: no rights), "out" when refused
    printf 'security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=%s\nsasl.password=%s\nssl.ca.location=%s\n' "$1" "$2" "$work/ca.pem" > "$work/try.properties"
    out=$("$bin/stele" users list --bootstrap "127.0.0.1:$(acl_port SASL_SSL)" --command-config "$work/try.properties" 2>&1 || true)
    if grep -q "login as $1 refused" <<< "$out"; then echo out; else echo in; fi
}
echo "erin-first" | "$bin/stele" users create erin "${live[@]}" --mechanism SCRAM-SHA-256 | grep -qx 'created User:erin' || fail "users create --bootstrap"
if echo "x" | "$bin/stele" users create erin "${live[@]}" >/dev/null 2>&1; then fail "a live user was created twice"; fi
"$bin/stele" users list "${live[@]}" | grep -q '^User:erin	SCRAM-SHA-256 (4096 iterations)$' || fail "users list --bootstrap"
[ "$(login_as erin erin-first)" = in ] || fail "erin cannot log in after users create --bootstrap"
echo "erin-second" | "$bin/stele" users passwd erin "${live[@]}" --mechanism SCRAM-SHA-512,SCRAM-SHA-256 >/dev/null || fail "users passwd --bootstrap"
[ "$(login_as erin erin-first)" = out ] || fail "erin's old password still works after passwd --bootstrap"
[ "$(login_as erin erin-second)" = in ] || fail "erin's new password does not work"
"$bin/stele" users delete erin "${live[@]}" | grep -qx 'deleted User:erin' || fail "users delete --bootstrap"
[ "$(login_as erin erin-second)" = out ] || fail "a deleted user still logs in"
if echo "x" | "$bin/stele" users create mallory --bootstrap "127.0.0.1:$(acl_port SASL_SSL)" --command-config "$work/alice.properties" > "$work/mallory.txt" 2>&1; then
    fail "alice created a user without ALTER on the cluster"
fi
grep -q "refused" "$work/mallory.txt" || { cat "$work/mallory.txt"; fail "the refusal does not say so"; }
echo "stele users create/passwd/list/delete --bootstrap against the running server (SASL_SSL, admin API); refused to alice: OK"

# kcat (librdkafka) as bob: producing needs WRITE.
if seq 1 3 | kcat -P -b "127.0.0.1:$(acl_port SASL_SSL)" -X security.protocol=SASL_SSL -X ssl.ca.location="$work/ca.pem" -X sasl.mechanisms=SCRAM-SHA-256 \
    -X sasl.username=bob -X sasl.password=bob-pw -X message.timeout.ms=20000 -t orders-in 2> "$work/kcat-acl.txt"; then
    fail "kcat produced as bob without WRITE"
fi
grep -qi 'authoriz' "$work/kcat-acl.txt" || { cat "$work/kcat-acl.txt"; fail "kcat's refusal does not say authorization"; }
echo "kcat as bob without WRITE: refused (Topic authorization failed): OK"
denied=$(curl -sf -H "Authorization: Bearer $admin_token" "http://127.0.0.1:$acl_http/metrics" | grep '^stele_authorization_denials_total' | awk '{print $2}')
[ -n "$denied" ] && [ "${denied%.*}" -ge 5 ] || fail "stele_authorization_denials_total is '$denied', expected ≥ 5"
echo "denials counted in /metrics ($denied): OK"
kill -TERM "$pid"
wait_until "$$" "the ACL server to stop" bash -c "! kill -0 $pid 2>/dev/null" || fail "the ACL server did not stop"
wait "$pid" 2>/dev/null || true
pid=""

# Without --listeners the one PLAINTEXT listener is authorized as well: an anonymous client is refused.
"$bin/stele" serve --data-dir "$acl_dir" --http-listen 127.0.0.1 --http-port 0 --kafka-port 0 --authorizer acl --super-users User:admin \
    > "$work/acl-plain.log" 2>&1 &
pid=$!
wait_until "$pid" "the plaintext ACL server to serve HTTP" grep -q 'serving HTTP' "$work/acl-plain.log" || { cat "$work/acl-plain.log"; fail "the plaintext ACL server did not start"; }
grep -q 'authorizing requests with ACLs' "$work/acl-plain.log" || { cat "$work/acl-plain.log"; fail "--authorizer acl without --listeners authorizes nothing"; }
plain_port=$(grep "serving the Kafka protocol" "$work/acl-plain.log" | grep -o 'address=127.0.0.1:[0-9]*' | cut -d: -f2)
if "$bin/stele" topics create anonymous-topic --bootstrap "127.0.0.1:$plain_port" > "$work/anon.out" 2>&1; then
    fail "an anonymous client created a topic on the PLAINTEXT listener of an --authorizer acl server"
fi
kill -TERM "$pid"
wait_until "$$" "the plaintext ACL server to stop" bash -c "! kill -0 $pid 2>/dev/null" || fail "the plaintext ACL server did not stop"
wait "$pid" 2>/dev/null || true
pid=""
echo "--authorizer acl without --listeners: the PLAINTEXT listener refuses an anonymous client: OK"

# What the admin clients changed is on disk: carol's ACL (CreateAcls), not bob's group ACL (DeleteAcls).
acls list --principal User:carol | grep -qx 'ALLOW User:carol from \* READ on Topic:audit-\*' || { acls list; fail "an ACL created through CreateAcls was not kept"; }
! acls list | grep -q 'Group:g-bob$' || fail "an ACL deleted through DeleteAcls came back"
# A damaged ACL file refuses the start, naming it, and is left as it was.
cp "$acl_dir/security/acls.json" "$work/acls.good"
printf '{"format":1,"acls":[{"resource_type":"Topic"' > "$acl_dir/security/acls.json"
if "${acl_serve[@]}" > "$work/acl-damaged.log" 2>&1; then fail "the server started on a damaged ACL file"; fi
grep -q 'cannot authorize requests:.*acls.json cannot be read' "$work/acl-damaged.log" || { cat "$work/acl-damaged.log"; fail "the refusal does not name the ACL file"; }
[ "$(cat "$acl_dir/security/acls.json")" = '{"format":1,"acls":[{"resource_type":"Topic"' ] || fail "the damaged ACL file was changed"
if acls list >/dev/null 2>&1; then fail "acls list read a damaged file"; fi
echo "ACLs kept across a restart; a damaged ACL file refuses the start and is left as it was: OK"
rm -f "$work"/*.properties

# The mirror between sites with security on both ends: a SASL_SSL source, an ACL target with the
# mirror inside it logging in as its own principal; wrong passwords and foreign CAs refused.
python3 "$(dirname "$0")/../Tests/Clients/mirror_security.py" "$bin" "$work" || fail "the mirror with TLS, SASL and ACLs"
for secret in admin-pw alice-pw bob-pw erin-first erin-second "${alice_token#stele_*_}" "${admin_token#stele_*_}"; do
    if grep -rqa -- "$secret" "$acl_dir" "$work/acl-serve.log"; then fail "the password '$secret' is in clear"; fi
done
echo "security suite: PASS"
