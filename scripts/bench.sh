#!/bin/sh
# Reproduces BENCHMARKS.md: release builds, chatd pinned to CPU 0 and chatbench to CPU 1,
# each scenario against a fresh chatd. Results: one JSON file per scenario in $OUT.
set -eu
cd "$(dirname "$0")/.."
OUT="${OUT:-bench-results}"
PORT="${PORT:-9100}"
SECONDS_EACH="${SECONDS_EACH:-10}"
mkdir -p "$OUT"
swift build -c release --product chatd
swift build -c release --product chatbench
BIN="$(swift build -c release --show-bin-path)"
# CHATD=/path/to/another/chatd compares another build under the same load tool.
CHATD="${CHATD:-$BIN/chatd}"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_chatd() {
    rm -f "$WORK"/history.sqlite*
    cat > "$WORK/chatd.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
threads = 1
[auth]
tokens = ["dev-token"]
allowed_origins = ["http://localhost:$PORT"]
[limits]
rate_messages = 1000000
user_rate_messages = 1000000
ip_rate_messages = 1000000
max_connections_per_ip = 100000
upgrades_per_minute_per_ip = 100000000
max_connections = 100000
# chatbench opens up to 256 handshakes at once from 4 addresses: above the default pending caps.
max_pending_connections = 100000
max_pending_per_ip = 100000
send_buffer_bytes = 1048576
[rooms.rules."dash-*"]
slow_consumer = "drop_oldest"
[history]
path = "$WORK/history.sqlite"
[control]
socket = ""
[metrics]
listen = ""
[log]
level = "warning"
TOML
    taskset -c 0 "$CHATD" --config "$WORK/chatd.toml" > "$WORK/chatd.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/chatd.log"
    exit 1
}

run() {
    name="$1"
    shift
    start_chatd
    taskset -c 1 "$BIN/chatbench" "$@" --port "$PORT" --server-pid "$PID" | tee "$OUT/$name.json"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
}

# The floors (issue 15): a bare NIO server holding the same 10,000 idle connections, with an
# empty pipeline (TCP only) and with NIO's own WebSocket handlers after an upgrade.
floor() {
    name="$1"
    pipeline="$2"
    shift 2
    taskset -c 0 "$BIN/chatbench" floor --port "$PORT" --pipeline "$pipeline" > "$WORK/floor.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        grep -q listening "$WORK/floor.log" 2>/dev/null && break
        sleep 0.1
    done
    taskset -c 1 "$BIN/chatbench" idle "$@" --port "$PORT" --server-pid "$PID" | tee "$OUT/$name.json"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
}

if [ -n "${ONLY:-}" ]; then
    # One scenario by name, e.g. ONLY=idle ./scripts/bench.sh
    case "$ONLY" in
    floor-empty) floor floor-empty empty --connections 10000 --hold 5 --raw ;;
    floor-answer) floor floor-answer answer --connections 10000 --hold 5 --raw --hello ;;
    floor-websocket) floor floor-websocket websocket --connections 10000 --hold 5 ;;
    fanout-window16) run fanout-window16 fanout --rooms 10 --members 100 --seconds "$SECONDS_EACH" --window 16 ;;
    idle) run idle idle --connections 10000 --hold 5 ;;
    idle-deflate) run idle-deflate idle --connections 10000 --hold 5 --deflate ;;
    *) run "$ONLY" "$ONLY" --seconds "$SECONDS_EACH" ;;
    esac
    exit 0
fi

floor floor-empty empty --connections 10000 --hold 5 --raw
floor floor-answer answer --connections 10000 --hold 5 --raw --hello
floor floor-websocket websocket --connections 10000 --hold 5
run fanout fanout --rooms 10 --members 100 --seconds "$SECONDS_EACH" --window 64
run fanout-window16 fanout --rooms 10 --members 100 --seconds "$SECONDS_EACH" --window 16
run latency latency --rooms 10 --members 100 --seconds "$SECONDS_EACH" --rate 20000
run latency-stalled latency --rooms 10 --members 100 --seconds "$SECONDS_EACH" --rate 20000 --stalled 5 --room-prefix dash-
run handshakes handshakes --seconds "$SECONDS_EACH" --concurrency 64
run idle idle --connections 10000 --hold 5
run idle-deflate idle --connections 10000 --hold 5 --deflate
