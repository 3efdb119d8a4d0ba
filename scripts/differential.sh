#!/usr/bin/env bash
# The long differential run (issue 23): generated workflows run embedded and on fleets must give
# identical observable runs. CI runs a reduced form through scripts/test.sh (600 racing seeds and
# 300 simulator seeds in memory, 300 seeds on AMQP + LMDB and on PostgreSQL); this runs many more.
#   scripts/differential.sh [seeds]     (default 20000: seeds 1…N racing in memory, N/4 simulator
#                                        seeds of four scenarios each, N/10 on each real backend)
# A failing seed prints the one-line command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20000}
export WEFT_DIFFERENTIAL_SEEDS="1-$seeds"
export WEFT_SIMULATOR_GENERATED_SEEDS="1-$((seeds / 4))"
export WEFT_AMQP_DIFFERENTIAL_SEEDS="100001-$((100000 + seeds / 10))"
export WEFT_POSTGRES_DIFFERENTIAL_SEEDS="200001-$((200000 + seeds / 10))"
bash scripts/test.sh --filter DifferentialTests --filter AMQPTests.Differential --filter PostgresTests.Differential
