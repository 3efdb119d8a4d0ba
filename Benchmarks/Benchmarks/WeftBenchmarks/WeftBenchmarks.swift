import Benchmark
import Weft
import WeftWorkloads

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 3,
        maxDuration: .seconds(4),
        maxIterations: 100_000
    )
    let runtime = LocalRuntime(registry: Workloads.registry)

    // (a) A 100-node chain, runs one after another. Node executions/s = throughput × 100.
    let chain = try! runtime.plan(for: Workloads.chain(100))
    Benchmark("a: chain of 100 nodes, sequential runs") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await runtime.run(chain, input: 1).status)
        }
    }

    // (b) 1 → 1000 → 1 with an `all` join: time per run.
    let fan1000 = try! runtime.plan(for: Workloads.fanOut(1000))
    Benchmark("b: fan-out 1 → 1000 → 1, all join") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await runtime.run(fan1000, input: 1).status)
        }
    }

    // (c) 1000 concurrent runs of a 3-node chain. Runs/s = throughput × 1000.
    let chain3 = try! runtime.plan(for: Workloads.chain(3))
    // The cost of (c)'s harness alone: 1000 tasks that each do nothing, for calibration.
    Benchmark("c0: 1000 concurrent empty tasks (harness of c)") { benchmark in
        for _ in benchmark.scaledIterations {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<1000 {
                    group.addTask { blackHole(index) }
                }
            }
        }
    }
    Benchmark("c: 1000 concurrent runs of a 3-node chain") { benchmark in
        for _ in benchmark.scaledIterations {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<1000 {
                    group.addTask { blackHole(await runtime.run(chain3, input: .int(Int64(index))).status) }
                }
            }
        }
    }

    // (d) 1 → 10,000 → 1 with an `all` join: time per run and peak memory.
    let fan10000 = try! runtime.plan(for: Workloads.fanOut(10_000))
    Benchmark("d: fan-out 1 → 10000 → 1, all join", configuration: .init(maxDuration: .seconds(6), maxIterations: 200)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await runtime.run(fan10000, input: 1).status)
        }
    }
    Benchmark("d': same, timed only", configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(6), maxIterations: 200)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await runtime.run(fan10000, input: 1).status)
        }
    }

    // (e) The distributed runtime on in-memory backends (one worker of 8 in this process):
    // 64 concurrent runs of a 10-node chain. Node hops/s = throughput × 640.
    // (f) The same fleet, 1 → 100 → 1 with an `all` join, one run at a time. Hops/s = throughput × 102.
    // The primed variants count no allocations: the allocation counter slows every malloc.
    let distributed = DistributedBox()
    let allMetrics = Benchmark.defaultConfiguration.metrics
    for (name, metrics) in [("", allMetrics), ("'", [BenchmarkMetric.wallClock, .throughput])] {
        let configuration = Benchmark.Configuration(
            metrics: metrics, setup: { try await distributed.start() }, teardown: { await distributed.stop() })
        Benchmark("e\(name): distributed, 64 concurrent 10-node chains (in-memory backends)", configuration: configuration) {
            benchmark in
            for _ in benchmark.scaledIterations { try await distributed.workloads!.chains() }
        }
        Benchmark("f\(name): distributed, fan-out 1 → 100 → 1 (in-memory backends)", configuration: configuration) {
            benchmark in
            for _ in benchmark.scaledIterations { try await distributed.workloads!.fanOut() }
        }
    }
}

/// Holds the fleet of the distributed benchmarks between their setup and teardown.
final class DistributedBox: @unchecked Sendable {
    // Only touched by the benchmark harness, one benchmark at a time.
    var workloads: DistributedWorkloads?

    func start() async throws { workloads = try await DistributedWorkloads.start() }

    func stop() async {
        await workloads?.fleet.shutdown()
        workloads = nil
    }
}
