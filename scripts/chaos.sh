#!/usr/bin/env bash
# The chaos test: a throwaway RabbitMQ, an LMDB store on disk, `weft foreman` with 4 workers, and
# RUNS runs of a mix of blueprints (chains, `all` and `any` fan-ins, exclusive branches, retries,
# a permanent failure, a loop, a sub-workflow). While they run, a random worker is SIGKILLed every
# 2 s, the broker is restarted once and the foreman SIGKILLed once. Then every run must have
# ended once, as the embedded runtime ends it for the same input; no node result may have been
# recorded twice; no job may be left queued. Prints the figures; exits non-zero on a violation.
#
#   scripts/chaos.sh [RUNS=10000] [extra weft-chaos drive flags, e.g. --kill-every 1]
#
# WEFT_CHAOS_CONFIGURATION=release builds release binaries (default debug, as CI builds).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000}
shift $(( $# > 0 ? 1 : 0 ))
mode=${WEFT_CHAOS_CONFIGURATION:-debug}

bash scripts/install-dependencies.sh
swift build -c "$mode" --product weft
swift build -c "$mode" --product weft-chaos
bin=$(swift build -c "$mode" --show-bin-path)

work=$(mktemp -d /var/tmp/weft-chaos.XXXXXX)
cleanup() {
    # Whatever the driver left behind: its foreman and workers, then the broker.
    pkill -KILL -f "$work/fleet.json" 2> /dev/null || true
    bash scripts/rabbitmq.sh stop "$work/broker" > /dev/null || true
    if [ "${WEFT_CHAOS_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
eval "$(bash scripts/rabbitmq.sh start "$work/broker")"
"$bin/weft-chaos" drive --runs "$runs" --broker "$WEFT_AMQP_URL" --broker-script scripts/rabbitmq.sh \
    --broker-dir "$work/broker" --work "$work" "$@"
