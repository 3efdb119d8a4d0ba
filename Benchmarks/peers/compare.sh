#!/usr/bin/env bash
# The peer comparison, in one run on one broker (a throwaway RabbitMQ, release builds):
#   (a) raw librabbitmq in C, no Weft: the physical limit (Benchmarks/Sources/PeersRaw);
#   (b) Weft's fleet: `weft foreman` with one worker process of concurrency 256 on a durable
#       LMDB store, driven by fleet-probe as a client (on 2 cores one async worker process
#       outruns two: they would share the store's one write lock and fsync apart);
#   (b') the same fleet with its store not fsynced (WEFT_STORE_SYNC=fast), to show what
#       durability costs;
#   (c) Celery 5.4 (from PyPI, into a virtualenv), a prefork worker of concurrency 2 (this
#       machine's cores), results in a throwaway Redis (chords need a result backend);
# on the same workloads: 64 concurrent 10-node chains (hops/s), a 1 → 100 → 1 fan-out with a
# join, one at a time (a Celery chord after a split task; hops/s), and 10,000 independent tasks
# (tasks/s). Prints a table with the ratios and the issue's targets.
#   Benchmarks/peers/compare.sh [SECONDS=20] [FANS=50] [TASKS=10000]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
fans=${2:-50}
tasks=${3:-10000}

bash scripts/install-dependencies.sh
if ! command -v redis-server > /dev/null; then
    [ "$(id -u)" -eq 0 ] && sudo="" || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server > /dev/null
fi
venv=.build-peers-venv
[ -x "$venv/bin/celery" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q "celery[redis]==5.4.0"; }
swift build -c release --static-swift-stdlib --scratch-path .build-static --product weft
swift build -c release --package-path Benchmarks --product fleet-probe
swift build -c release --package-path Benchmarks --product peers-raw

# shellcheck source=scripts/ports.sh
. scripts/ports.sh
die() { echo "compare.sh: $*" >&2; exit 1; }
work=$(mktemp -d /var/tmp/weft-peers.XXXXXX)
results=$work/results
cleanup() {
    [ -n "${foreman:-}" ] && kill -TERM "$foreman" 2> /dev/null && wait "$foreman" 2> /dev/null || true
    [ -n "${celery:-}" ] && kill -TERM "$celery" 2> /dev/null && wait "$celery" 2> /dev/null || true
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2> /dev/null || true
    bash scripts/rabbitmq.sh stop "$work/broker" > /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
eval "$(bash scripts/rabbitmq.sh start "$work/broker")"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "$work/redis.pid" --dir "$work" --logfile "$work/redis.log"

echo "(a) raw librabbitmq"
Benchmarks/.build/release/peers-raw "$WEFT_AMQP_URL" "$fans" "$tasks" | tee -a "$results"

echo "(b) Weft's fleet"
.build-static/release/weft foreman --workers 1 --concurrency 256 --broker "$WEFT_AMQP_URL" --store "$work/store" \
    --log-level warning &
foreman=$!
WEFT_BENCH_PEERS=1 Benchmarks/.build/release/fleet-probe "$WEFT_AMQP_URL" "$work/store" "$seconds" "$fans" "$tasks" \
    | tee -a "$results"
kill -TERM "$foreman" && wait "$foreman" || true
foreman=""

echo "(b') Weft's fleet, its store not fsynced (WEFT_STORE_SYNC=fast): how much of (b) durability costs"
.build-static/release/weft foreman --workers 1 --concurrency 256 --broker "$WEFT_AMQP_URL" --store "$work/fast-store" \
    --store-sync fast --log-level warning &
foreman=$!
WEFT_STORE_SYNC=fast WEFT_BENCH_PEERS=1 WEFT_BENCH_PEERS_NAME=weft-fast Benchmarks/.build/release/fleet-probe "$WEFT_AMQP_URL" \
    "$work/fast-store" "$seconds" "$fans" "$tasks" | tee -a "$results"
kill -TERM "$foreman" && wait "$foreman" || true
foreman=""

echo "(c) Celery"
export CELERY_BROKER_URL="${WEFT_AMQP_URL}/" CELERY_RESULT_BACKEND="redis://127.0.0.1:$redis_port/0"
(cd Benchmarks/peers && exec "../../$venv/bin/celery" -A celery_bench worker --concurrency 2 --loglevel warning \
    > "$work/celery.log" 2>&1) &
celery=$!
for workload in "chains $seconds" "fan $fans" "tasks $tasks"; do
    # shellcheck disable=SC2086
    (cd Benchmarks/peers && timeout 600 "../../$venv/bin/python" celery_bench.py $workload) | tee -a "$results"
done

python3 - "$results" <<'PY'
import sys
values = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 4 and parts[0] == "RESULT":
        values[(parts[1], parts[2])] = float(parts[3])
rows = [("chains", "64 concurrent 10-node chains", "hops/s"), ("fan", "1 → 100 → 1, one at a time", "hops/s"),
        ("tasks", "10,000 independent tasks", "tasks/s")]
print()
print("| workload | raw librabbitmq | Weft | Celery | Weft / raw | Weft / Celery | Weft, store not fsynced | its / raw |")
print("|---|---|---|---|---|---|---|---|")
for key, name, unit in rows:
    raw, weft, celery, fast = (values.get((key, system), 0) for system in ("raw", "weft", "celery", "weft-fast"))
    ratio = lambda a, b: "%.2f" % (a / b) if b else "—"
    print("| %s (%s) | %.0f | %.0f | %.0f | %s | %s | %.0f | %s |" % (
        name, unit, raw, weft, celery, ratio(weft, raw), ratio(weft, celery), fast, ratio(fast, raw)))
print()
print("Targets: Weft ≥ 10 × Celery on chains and the fan-out (chord), Weft ≥ 0.60 × raw.")
PY
