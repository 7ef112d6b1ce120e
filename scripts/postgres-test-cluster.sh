#!/usr/bin/env bash
# Starts a private PostgreSQL cluster for the tests: initdb in a temporary directory, listening
# on 127.0.0.1 only, trust authentication, fsync on, TLS offered with a certificate from a
# throw-away CA (for the sslmode tests). Prints `export` lines for the URL, the data directory,
# the postmaster PID, the CA that signed the server certificate and one that did not; `stop`
# stops the cluster by its PID and removes it.
#   eval "$(scripts/postgres-test-cluster.sh start)"; ...; scripts/postgres-test-cluster.sh stop "$STELE_TEST_POSTGRES_DIR"
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
case "${1:-}" in
start)
    [ -n "$bin" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
    # A free port unless one is given: a fixed one may be taken by another cluster on the machine.
    port="${2:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    dir=$(mktemp -d /tmp/stele-test-pg.XXXXXX)
    # initdb refuses to run as root: the cluster belongs to the postgres user when we are root.
    as=()
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; as=(runuser -u postgres --); fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    # A CA, a server certificate for 127.0.0.1 and localhost signed by it, and an unrelated CA.
    tls="$dir/tls"
    mkdir -p "$tls"
    (
        cd "$tls"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3 -subj "/CN=Stele test CA" 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 3 -subj "/CN=Someone else" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3 -extfile san.ext 2>/dev/null
        chmod 600 server.key
    )
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$tls"; chmod 644 "$tls/ca.pem" "$tls/other-ca.pem"; fi
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
synchronous_commit = on
ssl = on
# Logical decoding for the change-data-capture tests (stele cdc postgres).
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
ssl_cert_file = '$tls/server.pem'
ssl_key_file = '$tls/server.key'
CONF
    if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 300 start >/dev/null; then
        cat "$dir/server.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    echo "export STELE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
    echo "export STELE_TEST_POSTGRES_DIR=$dir"
    echo "export STELE_TEST_POSTGRES_PID=$(head -n 1 "$dir/data/postmaster.pid")"
    echo "export STELE_TEST_POSTGRES_CA=$tls/ca.pem"
    echo "export STELE_TEST_POSTGRES_OTHER_CA=$tls/other-ca.pem"
    ;;
stop)
    dir="$2"
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
        kill -INT "$pid" 2>/dev/null || true   # fast shutdown
        for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # up to 60 s
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start [port] | stop DIR" >&2; exit 2 ;;
esac
