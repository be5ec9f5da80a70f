#!/bin/sh
# Cross-node numbers for BENCHMARKS.md: a PostgreSQL server in a temporary directory and two
# release chatd nodes on it; chatbench puts each room's sender on node 1 and every other
# member on node 2, so that each measured delivery crossed PostgreSQL (commit + NOTIFY +
# LISTEN). Two cores: the nodes, PostgreSQL and chatbench share them. Results: JSON in $OUT.
set -eu
cd "$(dirname "$0")/.."
OUT="${OUT:-bench-results}"
SECONDS_EACH="${SECONDS_EACH:-10}"
PGPORT="${PGPORT:-55432}"
P1="${P1:-9201}"
P2="${P2:-9202}"
mkdir -p "$OUT"
swift build -c release --product chatd
swift build -c release --product chatbench
BIN="$(swift build -c release --show-bin-path)"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
WORK="$(mktemp -d)"
AS_PG=""
if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK"; AS_PG="runuser -u postgres --"; fi
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    $AS_PG "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop > /dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

$AS_PG "$PGBIN/initdb" -D "$WORK/data" --auth=trust --username=postgres > /dev/null
$AS_PG "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w \
    -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c synchronous_commit=${SYNC_COMMIT:-on}" start > /dev/null

start_nodes() {
    db="bench$1"
    $AS_PG "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE $db"
    PIDS=""
    for n in 1 2; do
        port=$(eval echo "\$P$n")
        cat > "$WORK/n$n.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
threads = 1
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:$P1"]
[limits]
rate_messages = 1000000
user_rate_messages = 1000000
ip_rate_messages = 1000000
max_connections_per_ip = 100000
upgrades_per_minute_per_ip = 100000000
max_connections = 100000
send_buffer_bytes = 1048576
[cluster]
database_url = "postgres://postgres@127.0.0.1:$PGPORT/$db"
node_id = "n$n"
[control]
socket = ""
[metrics]
listen = ""
[log]
level = "warning"
TOML
        "$BIN/chatd" --config "$WORK/n$n.toml" > "$WORK/n$n.log" 2>&1 &
        PIDS="$PIDS $!"
        for _ in $(seq 100); do
            curl -sf "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break
            sleep 0.1
        done
    done
}

run() {
    name="$1"
    shift
    # ONLY=NAME runs one scenario.
    [ -z "${ONLY:-}" ] || [ "$ONLY" = "$name" ] || return 0
    start_nodes "$name"
    "$BIN/chatbench" "$@" --port "$P1" --member-port "$P2" --origin "http://localhost:$P1" | tee "$OUT/$name.json"
    for p in $PIDS; do kill "$p"; wait "$p" 2>/dev/null || true; done
    PIDS=""
}

run cluster_fanout fanout --rooms 10 --members 100 --seconds "$SECONDS_EACH" --window 64
run cluster_latency_2k latency --rooms 10 --members 100 --seconds "$SECONDS_EACH" --rate 2000
run cluster_latency_20k latency --rooms 10 --members 100 --seconds "$SECONDS_EACH" --rate 20000
# Messages per second through PostgreSQL, with fan-out out of the way: one member per room
# besides its sender.
run cluster_messages fanout --rooms 10 --members 2 --seconds "$SECONDS_EACH" --window 64
