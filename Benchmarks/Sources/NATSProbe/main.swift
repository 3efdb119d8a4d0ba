import Foundation
import Logging
import NATSRawHops
import Synchronization
import Weft
import WeftNATS
import WeftWorkloads

// The NATS issue's benchmark, in one run against one nats-server: chains where each hop fetches
// a message, publishes its successor with the server's PubAck and then acks.
//   1. raw libnats in C (the physical limit): 64 chains, and 1 chain;
//   2. Weft's NATS transport alone: the same two;
//   3. the whole distributed runtime over NATS with in-memory stores (64 concurrent 10-node
//      chains, a worker of concurrency 64);
// interleaved for `rounds` rounds; prints medians and the ratios to the raw figures.
//   eval "$(scripts/nats.sh start)"   # or any server with JetStream: WEFT_NATS_URL
//   swift build -c release --package-path Benchmarks --product nats-probe && Benchmarks/.build/release/nats-probe [rounds]
let rounds = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 5
guard let url = ProcessInfo.processInfo.environment["WEFT_NATS_URL"] else {
    print("nats-probe: set WEFT_NATS_URL (eval \"$(scripts/nats.sh start)\")")
    exit(1)
}
let hopsPerChain = 100
var logger = Logger(label: "weft.bench")
logger.logLevel = .warning
let clock = ContinuousClock()

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func encode(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func decode(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }

func rawHops(chains: Int, round: Int) throws -> Double {
    let rate = weft_nats_raw_chain_hops(url, "WEFTBENCH_\(getpid())_\(UInt32.random(in: 0...UInt32.max))_\(round)", Int32(chains), Int32(hopsPerChain))
    guard rate > 0 else { throw NATSError("the raw benchmark failed") }
    return rate
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}

func transportHops(_ transport: NATSTransport, chains: Int) async throws -> Double {
    let queue = "weftbench\(getpid()).t\(UInt32.random(in: 0...UInt32.max))"
    try await transport.declare(queue)
    try await transport.publish((0..<chains).map { _ in QueueMessage(body: encode(UInt32(hopsPerChain))) }, to: queue)
    let total = chains * hopsPerChain
    let start = clock.now
    let consumer = try await transport.consume(queue, prefetch: chains)
    let received = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for try await delivery in consumer {
            let seen = received.increment()
            group.addTask {
                let remaining = decode(delivery.body)
                if remaining > 1 { try await transport.publish(QueueMessage(body: encode(remaining - 1)), to: queue) }
                try await delivery.ack()
            }
            if seen >= total { break }
        }
        try await group.waitForAll()
    }
    let rate = Double(total) / seconds(start.duration(to: clock.now))
    await consumer.stop()
    return rate
}

/// `runs` runs of the 10-node chain, 64 in flight at all times.
func runtimeHops(_ workloads: DistributedWorkloads, runs: Int) async throws -> Double {
    let start = clock.now
    let started = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<64 {
            group.addTask {
                while started.increment() <= runs {
                    let result = try await workloads.fleet.run(workloads.chain, input: 1)
                    precondition(result.status == .completed)
                }
            }
        }
        try await group.waitForAll()
    }
    return Double(runs * 10) / seconds(start.duration(to: clock.now))
}

try await Task.detached {
    let configuration = try NATSConfiguration(url: url)
    let transport = try await NATSTransport.connect(configuration, logger: logger)
    let runtimeTransport = try await NATSTransport.connect(configuration, logger: logger)
    let backends = WeftBackends(
        transport: runtimeTransport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
    let workloads = try await DistributedWorkloads.start(
        workers: 1, concurrency: 64, backends: backends, queuePrefix: "weftbench\(getpid())", retention: .seconds(1))

    // Warm-up.
    _ = try rawHops(chains: 64, round: -1)
    _ = try await transportHops(transport, chains: 64)
    _ = try await runtimeHops(workloads, runs: 640)

    var raw64: [Double] = [], raw1: [Double] = [], alone64: [Double] = [], alone1: [Double] = [], runtime: [Double] = []
    for round in 0..<rounds {
        raw64.append(try rawHops(chains: 64, round: round))
        alone64.append(try await transportHops(transport, chains: 64))
        runtime.append(try await runtimeHops(workloads, runs: 640))
        raw1.append(try rawHops(chains: 1, round: round))
        alone1.append(try await transportHops(transport, chains: 1))
    }
    func format(_ value: Double) -> String { String(format: "%.0f", value) }
    func ratio(_ a: [Double], _ b: [Double]) -> String { String(format: "%.2f", median(a) / median(b)) }
    print("NATS JetStream, hops/s (medians of \(rounds) rounds):")
    print("  64 chains: raw libnats \(format(median(raw64))), Weft transport \(format(median(alone64))) (ratio \(ratio(alone64, raw64))), "
        + "distributed runtime \(format(median(runtime))) (ratio \(ratio(runtime, raw64)))")
    print("  1 chain: raw libnats \(format(median(raw1))), Weft transport \(format(median(alone1))) (ratio \(ratio(alone1, raw1)))")
    await workloads.fleet.shutdown()
    await runtimeTransport.shutdown()
    await transport.shutdown()
}.value
