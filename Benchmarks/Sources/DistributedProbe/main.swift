import Foundation
import Weft
import WeftWorkloads

// The distributed runtime on in-memory backends, without a benchmark harness: node hops per
// second for 64 concurrent 10-node chains and for 1 → 100 → 1.
//   swift build -c release --product distributed-probe && .build/release/distributed-probe [rounds] [workers] [concurrency]
let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let rounds = arguments.first ?? 20
let workers = arguments.dropFirst().first ?? 1
let concurrency = arguments.dropFirst(2).first ?? 8
/// `WEFT_PROBE=fan` or `chains` runs only that workload, without the reference (for profiling
/// one at a time).
let only = ProcessInfo.processInfo.environment["WEFT_PROBE"]
let workloads = try await DistributedWorkloads.start(workers: workers, concurrency: concurrency)
let clock = ContinuousClock()

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// CPU time (user + system) this process has used, in seconds.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

// The machine's mood, measured in the same rounds: LocalRuntime running 100-node chains.
let local = LocalRuntime(registry: Workloads.registry)
let localChain = try local.plan(for: Workloads.chain(100))

try await Task.detached {
    var chainRates: [Double] = []
    var fanRates: [Double] = []
    var localRates: [Double] = []
    var chainCPU = 0.0
    var fanCPU = 0.0
    var overlappedRates: [Double] = []
    try await workloads.chains()  // warm-up
    try await workloads.fanOut()
    for _ in 0..<rounds {
        var start = clock.now
        var cpu = cpuSeconds()
        if only != "fan" { try await workloads.chains() }
        chainRates.append(640 / (clock.now - start).seconds)
        chainCPU += cpuSeconds() - cpu
        start = clock.now
        cpu = cpuSeconds()
        if only != "chains" { for _ in 0..<5 { try await workloads.fanOut() } }
        fanRates.append(510 / (clock.now - start).seconds)
        fanCPU += cpuSeconds() - cpu
        if only == nil {
            // The same fan-out, four runs at a time: how much of the one-at-a-time figure is
            // the latency of one run's serial parts (split, join, completion, the client).
            start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { for _ in 0..<2 { try await workloads.fanOut() } } }
                try await group.waitForAll()
            }
            overlappedRates.append(816 / (clock.now - start).seconds)
        }
        start = clock.now
        if only == nil { for _ in 0..<50 { _ = await local.run(localChain, input: 1) } }
        localRates.append(5000 / (clock.now - start).seconds)
    }
    print(
        "distributed, in-memory backends, \(workers) worker(s) × \(concurrency): "
            + "64 concurrent 10-node chains: median \(Int(median(chainRates))) hops/s (min \(Int(chainRates.min()!)), max \(Int(chainRates.max()!))); "
            + "1 → 100 → 1: median \(Int(median(fanRates))) hops/s (min \(Int(fanRates.min()!)), max \(Int(fanRates.max()!))); "
            + (overlappedRates.isEmpty ? "" : "1 → 100 → 1, four runs at a time: median \(Int(median(overlappedRates))) hops/s; ")
            + "reference, LocalRuntime 100-node chain: median \(Int(median(localRates))) nodes/s; "
            + "CPU per hop: chains \(Int(chainCPU / Double(640 * rounds) * 1e9)) ns, fan \(Int(fanCPU / Double(510 * rounds) * 1e9)) ns; "
            + "ratios to it: chains \(Double(Int(median(chainRates) / median(localRates) * 1000)) / 1000), fan \(Double(Int(median(fanRates) / median(localRates) * 1000)) / 1000)")
}.value
await workloads.fleet.shutdown()
