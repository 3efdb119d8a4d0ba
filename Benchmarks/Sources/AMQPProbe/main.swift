import AMQPRawHops
import Foundation
import Logging
import Synchronization
import Weft
import WeftAMQP
import WeftWorkloads

// The AMQP issue's benchmark, in one run against one broker: 64 concurrent chains where each
// hop consumes a message, publishes its successor with a publisher confirm and then acks.
//   1. raw librabbitmq in C (the physical limit),
//   2. Weft's AMQP transport alone,
//   3. the whole distributed runtime over AMQP with in-memory stores (64 concurrent 10-node
//      chains, a worker of concurrency 64),
// interleaved for `rounds` rounds; prints medians and the ratios to the raw figure, the mean
// publish-to-confirmation time of the transport and of the runtime, and, with
// `WEFT_BROKER_PID=<beam.smp pid>`, the CPU per hop of this process and of the broker.
// Switches for investigating: WEFT_PROBE=runtime (the runtime alone), WEFT_PROBE_CONSUMERS=n,
// WEFT_PROBE_SEQUENTIAL=1, WEFT_PROBE_QUEUES=2, WEFT_PROBE_BODY=bytes, WEFT_PROBE_KEEP_RUNS=1.
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

/// CPU seconds (user + system) used by this process.
func processCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// CPU seconds used by the broker, when `WEFT_BROKER_PID` names its process (beam.smp).
let brokerPID = ProcessInfo.processInfo.environment["WEFT_BROKER_PID"]
func brokerCPU() -> Double {
    guard let brokerPID, let stat = try? String(contentsOfFile: "/proc/\(brokerPID)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return (Double(fields[11]) ?? 0) / 100 + (Double(fields[12]) ?? 0) / 100
}

/// CPU microseconds per hop of this process and of the broker over a measured stretch.
struct CPUCost {
    var client = 0.0
    var broker = 0.0
    mutating func add(_ start: (Double, Double), hops: Int) {
        client += (processCPU() - start.0) * 1e6 / Double(hops)
        broker += (brokerCPU() - start.1) * 1e6 / Double(hops)
    }
    func text(_ rounds: Int) -> String {
        String(format: "client %.0f µs, broker %.0f µs", client / Double(rounds), broker / Double(rounds))
    }
}
let clock = ContinuousClock()

func rawHops(round: Int) throws -> Double {
    let endpoint = configuration.endpoint
    let rate = weft_raw_chain_hops(
        endpoint.host, Int32(endpoint.port), configuration.credentials.user, configuration.credentials.password,
        "weft-bench-raw-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(round)", Int32(chains), Int32(hopsPerChain))
    guard rate > 0 else { throw AMQPError(.protocolError, "the raw benchmark failed") }
    return rate
}

func transportHops(_ transport: AMQPTransport, queue: String) async throws -> Double {
    for _ in 0..<chains { try await transport.publish(QueueMessage(body: encode(UInt32(hopsPerChain))), to: queue) }
    let total = chains * hopsPerChain
    let start = clock.now
    // `WEFT_PROBE_CONSUMERS=n`: n consumers sharing the prefetch (as a worker's slots would).
    let count = ProcessInfo.processInfo.environment["WEFT_PROBE_CONSUMERS"].flatMap { Int($0) } ?? 1
    // `WEFT_PROBE_QUEUES=2`: successors alternate between two queues (as the runtime's job
    // and result queues share one publishing channel).
    let queues = ProcessInfo.processInfo.environment["WEFT_PROBE_QUEUES"] == "2" ? [queue, queue + ".second"] : [queue]
    for name in queues { try await transport.declare(name) }
    var opened: [QueueConsumer] = []
    for name in queues {
        for _ in 0..<count { opened.append(try await transport.consume(name, prefetch: chains / count)) }
    }
    let consumers = opened
    let received = Counter()
    try await withThrowingTaskGroup(of: Void.self) { outer in
        for consumer in consumers {
            outer.addTask {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let sequential = ProcessInfo.processInfo.environment["WEFT_PROBE_SEQUENTIAL"] != nil
                    for try await delivery in consumer {
                        let seen = received.increment()
                        let handle: @Sendable () async throws -> Void = {
                            let remaining = decode(delivery.body)
                            if remaining > 1 {
                                let t0 = ContinuousClock.now
                                try await transport.publish(QueueMessage(body: encode(remaining - 1)), to: queues[Int(remaining) % queues.count])
                                let elapsed = t0.duration(to: .now)
                                ProbeTimes.publish.add(Int(elapsed.components.attoseconds / 1_000_000_000), ordering: .relaxed)
                                ProbeTimes.count.add(1, ordering: .relaxed)
                            }
                            try await delivery.ack()
                        }
                        if sequential { try await handle() } else { group.addTask { try await handle() } }
                        if seen >= total { break }
                    }
                    try await group.waitForAll()
                }
                for consumer in consumers { await consumer.stop() }
            }
        }
        try await outer.waitForAll()
    }
    let elapsed = start.duration(to: clock.now)
    return Double(total) / seconds(elapsed)
}

enum ProbeTimes {
    static let publish = Atomic<Int>(0)
    static let count = Atomic<Int>(0)
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// `runs` runs of the 10-node chain, 64 in flight at all times (a new one starts as soon as one
/// ends), so that the figure is the steady state rather than the tail of a batch.
func runtimeHops(_ workloads: DistributedWorkloads, runs: Int) async throws -> Double {
    let start = clock.now
    let started = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<chains {
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

/// `WEFT_PROBE_BODY=n` pads the transport's messages to n bytes (the runtime's envelopes are ~150).
let padding = max(0, (ProcessInfo.processInfo.environment["WEFT_PROBE_BODY"].flatMap { Int($0) } ?? 4) - 4)
func encode(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } + [UInt8](repeating: 0, count: padding) }
func decode(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

try await Task.detached {
    let prefix = "weft-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let transport = try await AMQPTransport.connect(
        AMQPConfiguration(url: url, options: .init(prefix: prefix)), logger: logger)
    let queue = "\(prefix).transport"
    try await transport.declare(queue)

    let runtimeTransport = try await AMQPTransport.connect(
        AMQPConfiguration(url: url, options: .init(prefix: prefix + "-runtime")), logger: logger)
    let timed = TimedTransport(base: runtimeTransport)
    let backends = WeftBackends(
        transport: timed, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
    let workloads = try await DistributedWorkloads.start(
        workers: 1, concurrency: chains, backends: backends, queuePrefix: prefix + "-runtime",
        retention: ProcessInfo.processInfo.environment["WEFT_PROBE_KEEP_RUNS"] != nil ? nil : .seconds(1))

    // Warm-up.
    _ = try rawHops(round: -1)
    _ = try await transportHops(transport, queue: queue)
    _ = try await runtimeHops(workloads, runs: chains * hopsPerChain / 10)

    var raw: [Double] = []
    var alone: [Double] = []
    var runtime: [Double] = []
    var rawCPU = CPUCost()
    var aloneCPU = CPUCost()
    var runtimeCPU = CPUCost()
    let total = chains * hopsPerChain
    let runs = total / 10
    for round in 0..<rounds {
        var cpu = (processCPU(), brokerCPU())
        // `WEFT_PROBE=runtime` measures the runtime alone (for profiling it).
        let onlyRuntime = ProcessInfo.processInfo.environment["WEFT_PROBE"] == "runtime"
        raw.append(onlyRuntime ? 1 : try rawHops(round: round))
        rawCPU.add(cpu, hops: total)
        cpu = (processCPU(), brokerCPU())
        alone.append(onlyRuntime ? 1 : try await transportHops(transport, queue: queue))
        aloneCPU.add(cpu, hops: total)
        cpu = (processCPU(), brokerCPU())
        runtime.append(try await runtimeHops(workloads, runs: runs))
        runtimeCPU.add(cpu, hops: runs * 10)
    }
    let rawMedian = median(raw)
    let aloneMedian = median(alone)
    let runtimeMedian = median(runtime)
    func format(_ value: Double) -> String { String(format: "%.0f", value) }
    print(
        "AMQP, \(chains) concurrent chains, hops/s (median of \(rounds) rounds): raw librabbitmq \(format(rawMedian)) (\(raw.map(format).joined(separator: " "))); "
            + "Weft transport \(format(aloneMedian)) (\(alone.map(format).joined(separator: " "))), ratio \(String(format: "%.2f", aloneMedian / rawMedian)); "
            + "distributed runtime \(format(runtimeMedian)) (\(runtime.map(format).joined(separator: " "))), ratio \(String(format: "%.2f", runtimeMedian / rawMedian))")
    print("transport publishes: \(ProbeTimes.count.load(ordering: .relaxed)), mean \(ProbeTimes.publish.load(ordering: .relaxed) / max(1, ProbeTimes.count.load(ordering: .relaxed)) / 1000) µs")
    print("runtime publishes: \(timed.count.load(ordering: .relaxed)), mean \(timed.total.load(ordering: .relaxed) / max(1, timed.count.load(ordering: .relaxed)) / 1000) µs")
    let counts = runtimeTransport.statistics
    print("runtime transport: \(counts.confirmedPublishes) confirmed publishes, \(counts.deliveries) deliveries, \(counts.redeliveries) redeliveries, \(counts.staleSettlements) stale settlements for \((rounds + 1) * chains * hopsPerChain) hops (with the warm-up)")
    if brokerPID != nil {
        print("CPU per hop: raw \(rawCPU.text(rounds)); transport \(aloneCPU.text(rounds)); runtime \(runtimeCPU.text(rounds))")
    }
    await workloads.fleet.shutdown()
    await runtimeTransport.shutdown()
    await transport.shutdown()
}.value

/// Times the runtime's publishes (submit to confirmation).
final class TimedTransport: QueueTransport {
    let base: AMQPTransport
    let total = Atomic<Int>(0)
    let count = Atomic<Int>(0)
    init(base: AMQPTransport) { self.base = base }
    func declare(_ queue: String) async throws { try await base.declare(queue) }
    func publish(_ message: QueueMessage, to queue: String) async throws {
        let start = ContinuousClock.now
        try await base.publish(message, to: queue)
        record(start)
    }
    func publish(_ messages: [QueueMessage], to queue: String) async throws {
        let start = ContinuousClock.now
        try await base.publish(messages, to: queue)
        record(start)
    }
    private func record(_ start: ContinuousClock.Instant) {
        let elapsed = start.duration(to: .now)
        total.add(Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000), ordering: .relaxed)
        count.add(1, ordering: .relaxed)
    }
    func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer { try await base.consume(queue, prefetch: prefetch) }
    func depth(of queue: String) async throws -> Int { try await base.depth(of: queue) }
    func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] { try await base.deadLetters(of: queue, limit: limit) }
    func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws -> Int {
        try await base.redriveDeadLetters(of: queue, limit: limit, matching: matching)
    }
    func shutdown() async { await base.shutdown() }
}
