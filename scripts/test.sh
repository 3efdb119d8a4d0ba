#!/usr/bin/env bash
# Runs Weft's whole test suite from a fresh checkout on Debian with Swift installed: installs
# what the plugins need (apt), starts a throwaway RabbitMQ on free loopback ports (plain and
# TLS), runs every test against it, and stops the broker again, whatever happens.
# Extra arguments go to `swift test` (for example `--filter AMQPTests`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-dependencies.sh

broker_dir=$(mktemp -d /tmp/weft-test-rabbitmq.XXXXXX)
stop_broker() {
    bash scripts/rabbitmq.sh stop "$broker_dir" || true
    rm -rf "$broker_dir"
}
trap stop_broker EXIT
eval "$(bash scripts/rabbitmq.sh start "$broker_dir")"

swift build --build-tests
# Every test is a Swift Testing test; XCTest would only report "0 tests".
swift test --skip-build --disable-xctest "$@"
