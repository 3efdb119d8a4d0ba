#!/usr/bin/env bash
# Runs Weft's whole test suite from a fresh checkout on Debian with Swift installed: installs
# what the plugins need (apt), starts two throwaway RabbitMQs on free loopback ports (plain and
# TLS): one for the AMQP plugin's tests, which stop and restart theirs, and one for the fleet's
# end-to-end tests, which run beside them; and a throwaway PostgreSQL cluster (plain and TLS)
# for the PostgreSQL store's tests, and a throwaway nats-server with JetStream for the NATS
# transport's tests; runs every test, and stops the servers again, whatever
# happens.
# Extra arguments go to `swift test` (for example `--filter AMQPTests`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-dependencies.sh

broker_dir=$(mktemp -d /tmp/weft-test-rabbitmq.XXXXXX)
fleet_broker_dir=$(mktemp -d /tmp/weft-test-rabbitmq-fleet.XXXXXX)
postgres_dir=$(mktemp -d /tmp/weft-test-postgres.XXXXXX)
nats_dir=$(mktemp -d /tmp/weft-test-nats.XXXXXX)
stop_brokers() {
    bash scripts/nats.sh stop "$nats_dir" || true
    bash scripts/rabbitmq.sh stop "$broker_dir" || true
    bash scripts/rabbitmq.sh stop "$fleet_broker_dir" || true
    bash scripts/postgres.sh stop "$postgres_dir" || true
    rm -rf "$broker_dir" "$fleet_broker_dir" "$postgres_dir" "$nats_dir"
}
trap stop_brokers EXIT
# The fleet's broker asks TLS clients for a certificate (the mutual-TLS test).
fleet_variables=$(WEFT_RABBITMQ_REQUIRE_CLIENT_CERT=true bash scripts/rabbitmq.sh start "$fleet_broker_dir")
WEFT_FLEET_AMQP_URL=$(bash -c "$fleet_variables"$'\n''echo "$WEFT_AMQP_URL"')
WEFT_FLEET_AMQP_APP_URL=$(bash -c "$fleet_variables"$'\n''echo "$WEFT_AMQP_APP_URL"')
WEFT_FLEET_AMQPS_URL=$(bash -c "$fleet_variables"$'\n''echo "$WEFT_AMQPS_URL"')
WEFT_FLEET_AMQP_TLS_DIR=$(bash -c "$fleet_variables"$'\n''echo "$WEFT_AMQP_TLS_DIR"')
export WEFT_FLEET_AMQP_URL WEFT_FLEET_AMQP_APP_URL WEFT_FLEET_AMQPS_URL WEFT_FLEET_AMQP_TLS_DIR
eval "$(bash scripts/rabbitmq.sh start "$broker_dir")"
eval "$(bash scripts/postgres.sh start "$postgres_dir")"
eval "$(bash scripts/nats.sh start "$nats_dir")"

swift build --build-tests
# Every test is a Swift Testing test; XCTest would only report "0 tests". Three runs, one after
# the other: the in-process suites; the AMQP plugin's, which stop and restart their broker and
# time reconnections, with the machine to themselves; and the suites that start processes of
# their own (the fleet's, the LMDB store's across processes). A run that hangs fails after 15
# minutes instead of holding CI.
if [ $# -gt 0 ]; then
    timeout 900 swift test --skip-build --disable-xctest "$@"
else
    timeout 900 swift test --skip-build --disable-xctest --skip AMQPTests --skip FleetEndToEndTests --skip LMDBProcessTests \
        --skip PostgresTests --skip NATSTests
    timeout 900 swift test --skip-build --disable-xctest --filter AMQPTests
    timeout 900 swift test --skip-build --disable-xctest --filter PostgresTests
    timeout 900 swift test --skip-build --disable-xctest --filter NATSTests
    timeout 900 swift test --skip-build --disable-xctest --filter FleetEndToEndTests --filter LMDBProcessTests
fi
