#!/usr/bin/env bash
# The distributed probe before and after a change, in one sitting: builds `distributed-probe`
# (release) at two commits, in git worktrees, then runs the two binaries alternately and prints
# the medians of each workload and their ratios (after / before). Alternating matters: this
# machine's speed drifts by half within the hour, so runs of one binary after the other's would
# measure the drift.
#   Benchmarks/probe-before-after.sh BEFORE [AFTER=HEAD] [RUNS=15] [ROUNDS=30]
# BEFORE and AFTER are commits; AFTER may also be "." for the working tree as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: probe-before-after.sh BEFORE [AFTER=HEAD] [RUNS=15] [ROUNDS=30]}
after=${2:-HEAD}
runs=${3:-15}
rounds=${4:-30}
work=$(mktemp -d /var/tmp/weft-probe.XXXXXX)
cleanup() {
    git worktree remove --force "$work/tree-before" > /dev/null 2>&1 || true
    [ "$after" = "." ] || git worktree remove --force "$work/tree-after" > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

build() {  # build CHECKOUT SIDE: the probe of CHECKOUT, copied to $work/probe-SIDE
    swift build -c release --package-path "$1/Benchmarks" --product distributed-probe > "$work/$2.build.log" 2>&1 \
        || { tail -20 "$work/$2.build.log" >&2; exit 1; }
    cp "$1/Benchmarks/.build/release/distributed-probe" "$work/probe-$2"
}
git worktree add --quiet --detach "$work/tree-before" "$before"
build "$work/tree-before" before
if [ "$after" = "." ]; then
    build . after
else
    git worktree add --quiet --detach "$work/tree-after" "$after"
    build "$work/tree-after" after
fi

for i in $(seq 1 "$runs"); do
    for side in before after; do
        "$work/probe-$side" "$rounds" 1 8 2>&1 | grep -E "chains: median" >> "$work/$side.out" || echo "$side: run $i failed" >&2
    done
done

python3 - "$work/before.out" "$work/after.out" "$before" "$after" << 'EOF'
import re, statistics, sys
patterns = [
    ("64 chains (hops/s)", r"chains: median (\d+)"),
    ("1 → 100 → 1 (hops/s)", r"1 → 100 → 1: median (\d+)"),
    ("1 → 100 → 1 ×4 (hops/s)", r"four runs at a time: median (\d+)"),
    ("CPU per chain hop (ns)", r"CPU per hop: chains (\d+)"),
    ("CPU per fan-out hop (ns)", r"fan (\d+) ns"),
    ("LocalRuntime reference (nodes/s)", r"LocalRuntime 100-node chain: median (\d+)"),
]
def medians(path):
    rows = open(path).read().splitlines()
    found = {}
    for name, pattern in patterns:
        values = [float(m.group(1)) for row in rows if (m := re.search(pattern, row))]
        found[name] = statistics.median(values) if values else float("nan")
    return found, len(rows)
before, n_before = medians(sys.argv[1])
after, n_after = medians(sys.argv[2])
print(f"medians of {n_before} runs of {sys.argv[3]} and {n_after} of {sys.argv[4]}, alternating")
print(f"| | before | after | after / before |")
print(f"|---|---|---|---|")
for name, _ in patterns:
    print(f"| {name} | {before[name]:,.0f} | {after[name]:,.0f} | {after[name] / before[name]:.2f} |")
EOF
