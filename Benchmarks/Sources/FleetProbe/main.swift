import Foundation
import Logging
import Weft
import WeftFleet
import WeftLMDB
import WeftSamples

// The fleet issue's benchmark driver: a client of a running fleet (see Benchmarks/fleet.sh,
// which starts the broker and `weft foreman` with 2 workers on a durable LMDB store):
//   1. 64 concurrent 10-node chains (`chain-10`), repeated for `seconds`: runs/s, hops/s, and
//      per-hop latency (a run's duration / 10) p50/p99;
//   2. 1 → 100 → 1 fan-out/fan-in (`fan-100`), one run at a time: its latency p50/p99;
//   3. worker resident memory (from the workers' reports) at idle, and after `jobs` more jobs
//      (default 1,000,000: flat memory is the target).
//   Benchmarks/.build/release/fleet-probe <broker-url> <store> [seconds] [fan-runs] [jobs]
let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    print("usage: fleet-probe <broker-url> <store> [seconds] [fan-runs] [jobs]")
    exit(2)
}
var configuration = FleetConfiguration()
configuration.broker = arguments[1]
configuration.store = arguments[2]
if let sync = ProcessInfo.processInfo.environment["WEFT_STORE_SYNC"].flatMap(LMDBConfiguration.SyncMode.init(rawValue:)) {
    configuration.storeSync = sync
}
let seconds = arguments.count > 3 ? Double(arguments[3]) ?? 20 : 20
let fanRuns = arguments.count > 4 ? Int(arguments[4]) ?? 50 : 50
let memoryJobs = arguments.count > 5 ? Int(arguments[5]) ?? 1_000_000 : 1_000_000
var logger = Logger(label: "fleet-probe")
logger.logLevel = .warning

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

let chain = FleetWorkloads.chain
let fan = FleetWorkloads.fanOut
let single = FleetWorkloads.single
let client = try await FleetClient.connect(
    configuration, registry: FleetWorkloads.registry, blueprints: [chain.blueprint, fan.blueprint, single.blueprint], logger: logger)
let status = FleetStatusDirectory(path: configuration.statusDirectory)

/// Each worker's resident memory and, in parentheses, its anonymous part (heap and stacks: the
/// rest is shared libraries and the store's mapped pages, which grow with the store).
func workerMemory() -> [String] {
    status.workers().map {
        String(format: "%.1f MiB (anonymous %.1f MiB)", Double($0.residentBytes) / 1_048_576, Double($0.anonymousBytes) / 1_048_576)
    }
}
func workerJobs() -> Int { status.workers().reduce(0) { $0 + ($1.counts["completed"] ?? 0) } }

/// Runs 64 chains at a time for `duration`; returns runs, their durations.
func chains(for duration: Double, concurrency: Int = 64) async throws -> (runs: Int, elapsed: Duration, durations: [Double]) {
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int64(duration * 1000))
    let durations = try await withThrowingTaskGroup(of: [Double].self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var durations: [Double] = []
                while ContinuousClock.now < deadline {
                    let began = ContinuousClock.now
                    let result = try await client.runtime.start(chain.blueprint, input: 1).result()
                    precondition(result.status == .completed, "a chain did not complete: \(result.status)")
                    durations.append(milliseconds(began.duration(to: .now)))
                }
                return durations
            }
        }
        return try await group.reduce(into: []) { $0 += $1 }
    }
    return (durations.count, start.duration(to: .now), durations)
}

// Warm up (connections, caches, the queues declared).
let warmup = try await chains(for: 2)
if ProcessInfo.processInfo.environment["WEFT_BENCH_CHAINS_ONLY"] == "1" {
    // Benchmarks/postgres.sh: only the chains, and every run this client made, for the
    // statements-per-hop figure.
    let measured = try await chains(for: seconds)
    let runsPerSecond = Double(measured.runs) / (milliseconds(measured.elapsed) / 1000)
    let hopLatencies = measured.durations.map { $0 / 10 }
    print(String(format: "chains: 64 concurrent 10-node chains for %.0f s: %d runs, %.0f runs/s, %.0f hops/s", seconds, measured.runs, runsPerSecond, runsPerSecond * 10))
    print(String(format: "  per-hop latency (run duration / 10): p50 %.2f ms, p99 %.2f ms", percentile(hopLatencies, 0.5), percentile(hopLatencies, 0.99)))
    print("runs-total: \(warmup.runs + measured.runs)")
    await client.shutdown()
    exit(0)
}
/// `count` runs of `one-step`, at most `inFlight` at once: tasks per second.
func independentTasks(_ count: Int, inFlight: Int = 1000) async throws -> Double {
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<count {
            if index >= inFlight { try await group.next() }
            group.addTask {
                let result = try await client.runtime.start(single.blueprint, input: 1).result()
                precondition(result.status == .completed, "a task did not complete: \(result.status)")
            }
        }
        try await group.waitForAll()
    }
    return Double(count) / (milliseconds(start.duration(to: .now)) / 1000)
}

if ProcessInfo.processInfo.environment["WEFT_BENCH_PEERS"] == "1" {
    // Benchmarks/peers/compare.sh: the three workloads of the peer comparison, one
    // `RESULT <workload> <system> <per second>` line each (system: WEFT_BENCH_PEERS_NAME, or weft).
    // WEFT_BENCH_PEERS_ONLY=chains|fan|tasks measures that workload alone (for profiling).
    let system = ProcessInfo.processInfo.environment["WEFT_BENCH_PEERS_NAME"] ?? "weft"
    let only = ProcessInfo.processInfo.environment["WEFT_BENCH_PEERS_ONLY"]
    if only == nil || only == "chains" {
        let measured = try await chains(for: seconds)
        print("RESULT chains \(system) \(Double(measured.runs) * 10 / (milliseconds(measured.elapsed) / 1000))")
    }
    if only == nil || only == "fan" {
        for _ in 0..<5 { _ = try await client.runtime.start(fan.blueprint, input: 1).result() }
        let fanStart = ContinuousClock.now
        for _ in 0..<fanRuns {
            let result = try await client.runtime.start(fan.blueprint, input: 1).result()
            precondition(result.status == .completed)
        }
        print("RESULT fan \(system) \(Double(fanRuns * 102) / (milliseconds(fanStart.duration(to: .now)) / 1000))")
    }
    if only == "single" {
        // One one-step run at a time: a run's fixed cost (start, one job, end, announcement).
        var latencies: [Double] = []
        for _ in 0..<fanRuns * 10 {
            let began = ContinuousClock.now
            let result = try await client.runtime.start(single.blueprint, input: 1).result()
            precondition(result.status == .completed)
            latencies.append(milliseconds(began.duration(to: .now)))
        }
        print(String(format: "RESULT single \(system) p50 %.3f ms p90 %.3f ms", percentile(latencies, 0.5), percentile(latencies, 0.9)))
    }
    if only == nil || only == "tasks" {
        _ = try await independentTasks(1000)
        print("RESULT tasks \(system) \(try await independentTasks(memoryJobs))")
    }
    await client.shutdown()
    exit(0)
}
for _ in 0..<5 { _ = try await client.runtime.start(fan.blueprint, input: 1).result() }
// Idle: long enough for the workers' idle trim (after 5 s without work) and a report after it.
try await Task.sleep(for: .seconds(10))
let idleMemory = workerMemory()

let measured = try await chains(for: seconds)
let runsPerSecond = Double(measured.runs) / (milliseconds(measured.elapsed) / 1000)
let hopLatencies = measured.durations.map { $0 / 10 }
print(String(format: "chains: 64 concurrent 10-node chains for %.0f s: %d runs, %.0f runs/s, %.0f hops/s", seconds, measured.runs, runsPerSecond, runsPerSecond * 10))
print(String(format: "  per-hop latency (run duration / 10): p50 %.2f ms, p99 %.2f ms", percentile(hopLatencies, 0.5), percentile(hopLatencies, 0.99)))

var fanLatencies: [Double] = []
for _ in 0..<fanRuns {
    let began = ContinuousClock.now
    let result = try await client.runtime.start(fan.blueprint, input: 1).result()
    precondition(result.status == .completed)
    fanLatencies.append(milliseconds(began.duration(to: .now)))
}
print(String(format: "fan-out 1 → 100 → 1, one at a time, %d runs: p50 %.1f ms, p99 %.1f ms", fanRuns, percentile(fanLatencies, 0.5), percentile(fanLatencies, 0.99)))

print("worker memory at idle: " + idleMemory.joined(separator: ", "))
if memoryJobs > 0 {
    let before = workerJobs()
    let start = ContinuousClock.now
    while workerJobs() - before < memoryJobs {
        _ = try await chains(for: 10)
        print("  \(workerJobs() - before) jobs, memory " + workerMemory().joined(separator: ", "))
    }
    try await Task.sleep(for: .seconds(10))
    print("worker memory at idle after \(workerJobs() - before) more jobs (\(Int(milliseconds(start.duration(to: .now)) / 1000)) s): "
        + workerMemory().joined(separator: ", "))
}
await client.shutdown()
