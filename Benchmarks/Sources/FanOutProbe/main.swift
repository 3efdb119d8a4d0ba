import Foundation
import Weft
import WeftWorkloads

// Workloads (b) and (d) in a process of their own, without a benchmark harness: their medians,
// the ratio between them (measured in one process, rounds interleaved, so that the machine's
// mood hits both alike), and the process's peak resident memory.
//   swift build -c release --product fanout-probe && .build/release/fanout-probe [rounds]
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func median(_ times: [Duration]) -> Duration { times.sorted()[times.count / 2] }

let rounds = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 20
let runtime = LocalRuntime(registry: Workloads.registry)
let baseline = peakResidentMegabytes()
let small = try runtime.plan(for: Workloads.fanOut(1000))
let large = try runtime.plan(for: Workloads.fanOut(10_000))
let clock = ContinuousClock()
// Measured off the main actor, so that no run pays a hop to it.
let (smallTimes, largeTimes, sortedRatios) = await Task.detached { () async -> ([Duration], [Duration], [Double]) in
var smallTimes: [Duration] = []
var largeTimes: [Duration] = []
var ratios: [Double] = []
for _ in 0..<rounds {
    var roundSmall: [Duration] = []
    var roundLarge: [Duration] = []
    for _ in 0..<20 {
        let start = clock.now
        let status = await runtime.run(small, input: 1).status
        precondition(status == .completed)
        roundSmall.append(clock.now - start)
    }
    for _ in 0..<10 {
        let start = clock.now
        let status = await runtime.run(large, input: 1).status
        precondition(status == .completed)
        roundLarge.append(clock.now - start)
    }
    smallTimes += roundSmall
    largeTimes += roundLarge
    ratios.append(median(roundLarge) / median(roundSmall))
}
return (smallTimes, largeTimes, ratios.sorted())
}.value
let ratios = sortedRatios
print(String(
    format: "b: 1 → 1000 → 1 median %.2f ms; d: 1 → 10000 → 1 median %.2f ms; d/b %.1f (per round: median %.1f, %.1f–%.1f); peak RSS %.1f MB (%.1f MB before the plans)",
    median(smallTimes).seconds * 1000, median(largeTimes).seconds * 1000, median(largeTimes) / median(smallTimes),
    ratios[ratios.count / 2], ratios.first!, ratios.last!, peakResidentMegabytes(), baseline))
