#!/usr/bin/env bash
# The fleet benchmark: a throwaway RabbitMQ, `weft foreman` with 2 workers on a durable LMDB
# store (on disk, under /var/tmp), and the fleet-probe driver (release builds). Prints hops/s
# for 64 concurrent 10-node chains, per-hop latency, the 1 → 100 → 1 fan-out's latency, and
# worker memory at idle and after JOBS more jobs.
#   Benchmarks/fleet.sh [SECONDS=20] [FAN_RUNS=50] [JOBS=1000000] [CONCURRENCY=32]
# WEFT_STORE_SYNC=fast measures without fsync, WEFT_BENCH_WORKERS=n with n workers, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
fan_runs=${2:-50}
jobs=${3:-1000000}
concurrency=${4:-32}

# The worker is built as it is deployed: with the Swift runtime and Foundation linked statically
# (see README, "Deploying"), in a build directory of its own.
swift build -c release --static-swift-stdlib --scratch-path .build-static --product weft
swift build -c release --package-path Benchmarks --product fleet-probe

work=$(mktemp -d /var/tmp/weft-fleet-bench.XXXXXX)
cleanup() {
    [ -n "${foreman:-}" ] && kill -TERM "$foreman" 2> /dev/null && wait "$foreman" 2> /dev/null || true
    bash scripts/rabbitmq.sh stop "$work/broker" > /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
eval "$(bash scripts/rabbitmq.sh start "$work/broker")"
.build-static/release/weft foreman --workers "${WEFT_BENCH_WORKERS:-2}" --concurrency "$concurrency" --broker "$WEFT_AMQP_URL" --store "$work/store" \
    --log-level warning &
foreman=$!
Benchmarks/.build/release/fleet-probe "$WEFT_AMQP_URL" "$work/store" "$seconds" "$fan_runs" "$jobs"
