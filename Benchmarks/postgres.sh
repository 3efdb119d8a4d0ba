#!/usr/bin/env bash
# The PostgreSQL store's benchmark, in one run on one broker: `weft foreman` with 2 workers on a
# durable LMDB store, then on a throwaway PostgreSQL cluster (fsync and synchronous_commit on),
# each driven by fleet-probe's 64 concurrent 10-node chains; prints hops/s for both and, for
# PostgreSQL, the statements per hop (transactions committed in the database, every one of
# Weft's statements being its own, over the hops; the fleet's timer and reconciler polls
# included).
#   Benchmarks/postgres.sh [SECONDS=20] [CONCURRENCY=32]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
concurrency=${2:-32}

swift build -c release --static-swift-stdlib --scratch-path .build-static --product weft
swift build -c release --package-path Benchmarks --product fleet-probe

work=$(mktemp -d /var/tmp/weft-pg-bench.XXXXXX)
chmod 711 "$work"  # the cluster inside runs as the postgres user
cleanup() {
    [ -n "${foreman:-}" ] && kill -TERM "$foreman" 2> /dev/null && wait "$foreman" 2> /dev/null || true
    bash scripts/rabbitmq.sh stop "$work/broker" > /dev/null || true
    bash scripts/postgres.sh stop "$work/postgres" > /dev/null || true
    [ -n "${WEFT_BENCH_KEEP:-}" ] && cp "$work/postgres/server.log" /tmp/pg-bench-server.log 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
eval "$(bash scripts/rabbitmq.sh start "$work/broker")"
eval "$(bash scripts/postgres.sh start "$work/postgres")"
# shellcheck disable=SC1091
. "$work/postgres/settings"
commits() {
    runuser -u postgres -- psql -h "$work/postgres" -p "$PORT" -U postgres -At \
        -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'weft'"
}

run() {
    local name=$1 store=$2
    .build-static/release/weft foreman --workers 2 --concurrency "$concurrency" --broker "$WEFT_AMQP_URL" --store "$store" \
        --log-level warning &
    foreman=$!
    local before after output runs
    sleep 2
    before=$(commits)
    output=$(WEFT_BENCH_CHAINS_ONLY=1 Benchmarks/.build/release/fleet-probe "$WEFT_AMQP_URL" "$store" "$seconds" 0 0)
    echo "$name: $(echo "$output" | grep -v runs-total | tr '\n' ' ')"
    kill -TERM "$foreman"; wait "$foreman" || true; foreman=""
    sleep 2  # the database's statistics are published within a second
    after=$(commits)
    runs=$(echo "$output" | sed -n 's/^runs-total: //p')
    if [ -n "${WEFT_BENCH_PG_REPORT:-}" ] && [ "$name" = postgres ]; then
        runuser -u postgres -- psql -h "$work/postgres" -p "$PORT" -U postgres -d weft -c "$WEFT_BENCH_PG_REPORT" || true
    fi
    if [ "$name" = postgres ]; then
        awk -v s="$((after - before))" -v r="$runs" 'BEGIN { printf "postgres: %d statements for %d hops: %.2f statements per hop\n", s, r * 10, s / (r * 10) }'
    fi
}

# For diagnosis: WEFT_BENCH_PG_ONLY=1 skips LMDB; WEFT_BENCH_PG_SQL runs SQL as the superuser
# first (say, "ALTER SYSTEM SET synchronous_commit = off; SELECT pg_reload_conf()");
# WEFT_BENCH_PG_PARAMS adds URL parameters (say, "&pool=32").
if [ -n "${WEFT_BENCH_PG_SQL:-}" ]; then
    printf "%s\n" "$WEFT_BENCH_PG_SQL" | runuser -u postgres -- psql -h "$work/postgres" -p "$PORT" -U postgres -d weft -q -f - > /dev/null
fi
[ "${WEFT_BENCH_PG_ONLY:-0}" = 1 ] || run lmdb "$work/lmdb"
run postgres "$WEFT_POSTGRES_URL${WEFT_BENCH_PG_PARAMS:-}"
