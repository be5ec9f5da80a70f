#!/bin/sh
# Builds the fuzz targets with libFuzzer and runs each for SECONDS (default 30) on a copy of
# its seed corpus. A crash leaves crash-* files here and fails the run: turn each into a
# regression test, then add it to the corpus. FUZZ_SEED (default 1) makes a run repeatable;
# use another seed, or more seconds, to explore further.
set -eu
cd "$(dirname "$0")"
seconds="${1:-30}"
seed="${FUZZ_SEED:-1}"
swift build --sanitize=fuzzer
bin="$(swift build --sanitize=fuzzer --show-bin-path)"
status=0
for pair in FuzzClientCommand:client-command FuzzUpgradeGate:upgrade-gate FuzzConfig:config FuzzJWTClaims:jwt-claims \
        FuzzRequestHead:request-head FuzzWebSocket:websocket; do
    target="${pair%%:*}"
    corpus="${pair#*:}"
    work=".build/corpus/$corpus"
    mkdir -p "$work"
    cp corpus/"$corpus"/* "$work"/
    echo "== $target, ${seconds}s"
    SWIFT_BACKTRACE=enable=no "$bin/$target" -max_total_time="$seconds" -seed="$seed" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "$work" corpus/"$corpus" 2>&1 | grep -E "^#|stat::|ERROR|SUMMARY|crash" | tail -12 \
        || true
    for artifact in crash-* oom-* timeout-*; do
        if [ -e "$artifact" ]; then
            echo "FAILED: $target left $artifact"
            status=1
        fi
    done
done
exit $status
