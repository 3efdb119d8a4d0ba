import Foundation
import Weft
import WeftWorkloads

// Workload (d) in a process of its own, so that its peak resident memory is not mixed with a
// benchmark harness's: `swift run -c release fanout-memory [runs]`.
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

let runs = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200
let runtime = LocalRuntime(registry: Workloads.registry)
let baseline = peakResidentMegabytes()
let plan = try runtime.plan(for: Workloads.fanOut(10_000))
let clock = ContinuousClock()
var times: [Duration] = []
for _ in 0..<runs {
    let start = clock.now
    let result = await runtime.run(plan, input: 1)
    times.append(clock.now - start)
    precondition(result.status == .completed)
}
times.sort()
let median = times[times.count / 2]
print(String(format: "d: 1 → 10000 → 1, %d runs: median %.1f ms, p90 %.1f ms; peak RSS %.1f MB (%.1f MB before the plan)",
    runs, median.seconds * 1000, times[times.count * 9 / 10].seconds * 1000, peakResidentMegabytes(), baseline))
