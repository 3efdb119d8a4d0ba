import AMQPRawHops
import Foundation
import Logging
import Weft
import WeftAMQP
import WeftWorkloads

// The AMQP issue's benchmark, in one run against one broker: 64 concurrent chains where each
// hop consumes a message, publishes its successor with a publisher confirm and then acks.
//   1. raw librabbitmq in C (the physical limit),
//   2. Weft's AMQP transport alone,
//   3. the whole distributed runtime over AMQP with in-memory stores (64 concurrent 10-node
//      chains, a worker of concurrency 64),
// interleaved for `rounds` rounds; prints medians and the ratios to the raw figure.
//   eval "$(scripts/rabbitmq.sh start)"   # or any broker: WEFT_AMQP_URL
//   swift build -c release --package-path Benchmarks --product amqp-probe && Benchmarks/.build/release/amqp-probe [rounds]
let rounds = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 5
let url = ProcessInfo.processInfo.environment["WEFT_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/"
let configuration = try AMQPConfiguration(url: url)
let chains = 64
let hopsPerChain = 100
var logger = Logger(label: "weft.bench")
logger.logLevel = .warning

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
let clock = ContinuousClock()

func rawHops(round: Int) throws -> Double {
    let endpoint = configuration.endpoint
    let rate = weft_raw_chain_hops(
        endpoint.host, Int32(endpoint.port), configuration.credentials.user, configuration.credentials.password,
        "weft-bench-raw-\(getpid())-\(round)", Int32(chains), Int32(hopsPerChain))
    guard rate > 0 else { throw AMQPError(.protocolError, "the raw benchmark failed") }
    return rate
}

func transportHops(_ transport: AMQPTransport, queue: String) async throws -> Double {
    for _ in 0..<chains { try await transport.publish(QueueMessage(body: encode(UInt32(hopsPerChain))), to: queue) }
    let total = chains * hopsPerChain
    let start = clock.now
    let consumer = try await transport.consume(queue, prefetch: chains)
    try await withThrowingTaskGroup(of: Void.self) { group in
        var received = 0
        for try await delivery in consumer {
            received += 1
            group.addTask {
                let remaining = decode(delivery.body)
                if remaining > 1 { try await transport.publish(QueueMessage(body: encode(remaining - 1)), to: queue) }
                try await delivery.ack()
            }
            if received == total { break }
        }
        try await group.waitForAll()
    }
    let elapsed = start.duration(to: clock.now)
    await consumer.stop()
    return Double(total) / seconds(elapsed)
}

func encode(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func decode(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

try await Task.detached {
    let prefix = "weft-bench-\(getpid())"
    let transport = try await AMQPTransport.connect(
        AMQPConfiguration(url: url, options: .init(prefix: prefix)), logger: logger)
    let queue = "\(prefix).transport"
    try await transport.declare(queue)

    let runtimeTransport = try await AMQPTransport.connect(
        AMQPConfiguration(url: url, options: .init(prefix: prefix + "-runtime")), logger: logger)
    let backends = WeftBackends(
        transport: runtimeTransport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
    let workloads = try await DistributedWorkloads.start(
        workers: 1, concurrency: chains, backends: backends, queuePrefix: prefix + "-runtime")

    // Warm-up.
    _ = try rawHops(round: -1)
    _ = try await transportHops(transport, queue: queue)
    try await workloads.chains(chains)

    var raw: [Double] = []
    var alone: [Double] = []
    var runtime: [Double] = []
    for round in 0..<rounds {
        raw.append(try rawHops(round: round))
        alone.append(try await transportHops(transport, queue: queue))
        let start = clock.now
        let repeats = hopsPerChain / 10
        for _ in 0..<repeats { try await workloads.chains(chains) }
        runtime.append(Double(chains * 10 * repeats) / seconds(start.duration(to: clock.now)))
    }
    let rawMedian = median(raw)
    let aloneMedian = median(alone)
    let runtimeMedian = median(runtime)
    func format(_ value: Double) -> String { String(format: "%.0f", value) }
    print(
        "AMQP, \(chains) concurrent chains, hops/s (median of \(rounds) rounds): raw librabbitmq \(format(rawMedian)) (\(raw.map(format).joined(separator: " "))); "
            + "Weft transport \(format(aloneMedian)) (\(alone.map(format).joined(separator: " "))), ratio \(String(format: "%.2f", aloneMedian / rawMedian)); "
            + "distributed runtime \(format(runtimeMedian)) (\(runtime.map(format).joined(separator: " "))), ratio \(String(format: "%.2f", runtimeMedian / rawMedian))")
    await workloads.fleet.shutdown()
    await runtimeTransport.shutdown()
    await transport.shutdown()
}.value
