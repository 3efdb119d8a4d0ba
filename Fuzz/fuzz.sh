#!/usr/bin/env bash
# Runs Weft's libFuzzer targets: each for SECONDS, starting from its corpus in corpus/<target>
# (inputs it finds that reach new code are added there), crashes written to
# crashes/<target>/. Exits non-zero if a target crashed.
#   Fuzz/fuzz.sh [envelope|blueprint|condition|all] [SECONDS=60] [-- extra libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-all}
seconds=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
targets=(envelope blueprint condition)
[ "$target" = all ] || targets=("$target")

# The targets, instrumented for coverage, in one library; each driver links it with libFuzzer
# (SwiftPM's executables define `main`, which libFuzzer brings too).
swift build -c release -Xswiftc -sanitize=fuzzer --product WeftFuzzTargets
lib=$(swift build -c release --show-bin-path)
clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux
mkdir -p .build/fuzzers
status=0
for name in "${targets[@]}"; do
    [ -f "drivers/$name.c" ] || { echo "no target \"$name\" (envelope, blueprint, condition)" >&2; exit 2; }
    "$clang" -fsanitize=fuzzer "drivers/$name.c" -L"$lib" -lWeftFuzzTargets -Wl,-rpath,"$lib" -Wl,-rpath,"$runtime" \
        -o ".build/fuzzers/$name"
    mkdir -p "corpus/$name" "crashes/$name"
    echo "fuzzing $name for $seconds s"
    # -rss_limit_mb: a leak or unbounded allocation is a finding too; -max_len: larger than any seed.
    # Swift's own crash handler is turned off, so that libFuzzer's catches the trap and saves the input.
    set +e
    SWIFT_BACKTRACE=enable=no ".build/fuzzers/$name" "corpus/$name" -max_total_time="$seconds" -rss_limit_mb=1024 \
        -max_len=65536 -artifact_prefix="crashes/$name/" -print_final_stats=1 "$@" > ".build/fuzzers/$name.log" 2>&1
    code=$?
    set -e
    grep -E "^#[0-9]+[[:space:]]+DONE|^(Fatal error|.*runtime failure)|SUMMARY|stat::number_of_executed_units" ".build/fuzzers/$name.log" || true
    if [ $code -ne 0 ]; then
        echo "$name: CRASHED; the input is in crashes/$name/ (replay: .build/fuzzers/$name crashes/$name/<file>)" >&2
        status=1
    else
        echo "$name: no crash in $seconds s"
    fi
done
exit $status
