import Foundation
import Logging
import Weft

/// The distributed runtime's workloads: a fleet in this process over in-memory backends, no-op
/// nodes. Node hops (one job handled: its node run, its result recorded, its successors
/// published, acked) per second is the figure.
public struct DistributedWorkloads: Sendable {
    public let fleet: InProcessFleet
    public let chain: Blueprint
    public let fan: Blueprint

    /// Starts `workers` workers of `concurrency` each, over `backends` (in memory by default),
    /// their queues named with `queuePrefix`.
    public static func start(
        workers: Int = 1, concurrency: Int = 8, backends: WeftBackends = .inMemory(), queuePrefix: String = "weft",
        retention: Duration? = .seconds(1)
    ) async throws -> DistributedWorkloads {
        var logger = Logger(label: "weft.bench")
        logger.logLevel = .warning
        let chain = Workloads.chain(10)
        let fan = Workloads.fanOut(100)
        // Finished runs are deleted after a second, so that the stores stay at a steady size
        // (the default keeps them an hour, and a benchmark finishes hundreds of thousands).
        let options = FleetOptions(queuePrefix: queuePrefix, retention: retention)
        var worker = Worker.Configuration(fleet: options, concurrency: concurrency, logger: logger)
        // WEFT_BENCH_INLINE=0 measures without inline successors, for comparison.
        if let inline = ProcessInfo.processInfo.environment["WEFT_BENCH_INLINE"].flatMap(Int.init) {
            worker.maxInlineSuccessors = inline
        }
        let fleet = try await InProcessFleet.start(
            registry: Workloads.registry, blueprints: [chain, fan], workers: workers, backends: backends,
            worker: worker,
            client: DistributedRuntime.Configuration(fleet: options, logger: logger))
        return DistributedWorkloads(fleet: fleet, chain: chain, fan: fan)
    }

    /// 64 concurrent runs of a 10-node chain: 640 hops.
    public func chains(_ count: Int = 64) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask {
                    let result = try await fleet.run(chain, input: .int(Int64(index)))
                    precondition(result.status == .completed)
                }
            }
            try await group.waitForAll()
        }
    }

    /// One run of 1 → 100 → 1: 102 hops.
    public func fanOut() async throws {
        let result = try await fleet.run(fan, input: 1)
        precondition(result.status == .completed)
    }
}
