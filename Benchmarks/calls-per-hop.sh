#!/usr/bin/env bash
# Counts, exactly, the retains, releases and mallocs of distributed-probe's hops, by their
# immediate caller: bpftrace uprobes (apt install bpftrace; run as root), over ROUNDS rounds of a
# workload (chains: 640 hops a round; fan: 510).
#   Benchmarks/calls-per-hop.sh PROBE [ROUNDS=10] [WORKLOAD=chains] [TOP=12]
# Compare two builds by running it on each: counts do not drift with the machine's speed as
# times do.
set -euo pipefail
probe=$(realpath "${1:?usage: calls-per-hop.sh PROBE [ROUNDS] [WORKLOAD] [TOP]}")
rounds=${2:-10}
workload=${3:-chains}
top=${4:-12}
if [ "$workload" = fan ]; then hops=$((rounds * 510)); else hops=$((rounds * 640)); fi
core=$(ldd "$probe" | awk '/libswiftCore.so/ {print $3}')
libc=$(ldd "$probe" | awk '/libc.so.6/ {print $3}')
anchor='$s4Weft16NodeResultRecordV7encodedSays5UInt8VGyF'
anchor_offset=$((16#$(nm "$probe" | awk -v s="$anchor" '$3 == s {print $1}')))
program=$(mktemp)
raw=$(mktemp)
trap 'rm -f "$program" "$raw"' EXIT
cat > "$program" << BT
uprobe:$probe:"\$s4Weft16NodeResultRecordV7encodedSays5UInt8VGyF" /pid == cpid && @base == 0/ { @base = reg("ip") - $anchor_offset; }
uprobe:$core:swift_retain /pid == cpid/ { @retain[*(uint64*)reg("sp")] = count(); }
uprobe:$core:swift_release /pid == cpid/ { @release[*(uint64*)reg("sp")] = count(); }
uprobe:$core:swift_bridgeObjectRetain /pid == cpid/ { @bridgeRetain[*(uint64*)reg("sp")] = count(); }
uprobe:$core:swift_bridgeObjectRelease /pid == cpid/ { @bridgeRelease[*(uint64*)reg("sp")] = count(); }
uprobe:$libc:malloc /pid == cpid/ { @malloc[*(uint64*)reg("sp")] = count(); }
BT
bpftrace "$program" -c "/usr/bin/env WEFT_PROBE=$workload $probe $rounds 1 8" 2> /dev/null | grep '^@' > "$raw" || true
python3 - "$raw" "$probe" "$hops" "$top" << 'PY'
import collections, re, subprocess, sys
raw, probe, hops, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base, counts = 0, collections.defaultdict(collections.Counter)
for line in open(raw):
    if m := re.match(r"@base: (\d+)", line):
        base = int(m.group(1))
    elif m := re.match(r"@(\w+)\[(\d+)\]: (\d+)", line):
        counts[m.group(1)][int(m.group(2))] += int(m.group(3))
inside = sorted({a for c in counts.values() for a in c if base and 0 <= a - base < 1 << 28})
found = subprocess.run(["addr2line", "-f", "-C", "-e", probe] + [hex(a - base) for a in inside], capture_output=True, text=True)
name = dict(zip(inside, found.stdout.split("\n")[0::2]))
for event, by_address in counts.items():
    by_caller = collections.Counter()
    for address, count in by_address.items():
        by_caller[name.get(address, "(in a library)")[:110]] += count
    print(f"{event}: {sum(by_caller.values()) / hops:.1f} per hop")
    for caller, count in by_caller.most_common(top):
        print(f"  {count / hops:7.1f}  {caller}")
PY
