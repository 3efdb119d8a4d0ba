import Foundation
import Weft
import WeftConformance

/// What the chaos test's workers saw, in an append-only file per worker process under one
/// folder, one line per event; the driver reads them all afterwards. Each line is a single
/// `write(2)` to a file opened with `O_APPEND`, so a SIGKILL leaves whole lines (it can lose
/// the event a worker was about to log, never invent one).
///
/// - `R <run> <record>`: a node's result record was stored (by set-if-absent or compare-and-set);
/// - `X <run> <node> <attempt>`: an attempt of a node began;
/// - `D <queue> <count>`: a job was delivered again (its earlier delivery was lost).
final class ChaosLedger: Sendable {
    /// The environment variable that names the ledger folder for workers.
    static let variable = "WEFT_CHAOS_LEDGER"

    private let descriptor: Int32

    /// Opens this process's file in `folder`.
    init(folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent("worker-\(getpid()).log")
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }

    deinit { close(descriptor) }

    func append(_ fields: String...) {
        var line = fields.joined(separator: "\t")
        line.append("\n")
        line.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
    }

    /// A middleware that logs every attempt.
    var attempts: any NodeMiddleware {
        .around { [self] context, next in
            append("X", context.runID, context.nodeID, String(context.attempt))
            return try await next(context)
        }
    }

    /// `backends`, with node records and redeliveries logged.
    func observing(_ backends: WeftBackends) -> WeftBackends {
        WeftBackends(
            transport: RedeliveryLoggingTransport(base: backends.transport, ledger: self),
            contextStore: backends.contextStore,
            coordinationStore: WriteObservingStore(backends.coordinationStore) { [self] key in
                if WriteObservingStore.isNodeResult(key) { append("R", key.run, key.name) }
            })
    }

    /// Everything the files in `folder` hold.
    struct Contents {
        /// How many times each (run, record) was stored.
        var records: [String: Int] = [:]
        /// How many attempts began, in all.
        var attempts = 0
        /// How many attempts began more than once (the same run, node and attempt number).
        var repeatedAttempts = 0
        /// How many deliveries were redeliveries.
        var redeliveries = 0
        /// How many worker processes wrote a file.
        var workers = 0
    }

    static func read(folder: String) throws -> Contents {
        var contents = Contents()
        var attempts: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".log") {
            contents.workers += 1
            let text = try String(contentsOfFile: (folder as NSString).appendingPathComponent(name), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                switch fields.first {
                case "R": contents.records[fields.dropFirst().joined(separator: " "), default: 0] += 1
                case "X":
                    contents.attempts += 1
                    attempts[fields.dropFirst().joined(separator: " "), default: 0] += 1
                case "D": contents.redeliveries += 1
                default: break
                }
            }
        }
        contents.repeatedAttempts = attempts.values.reduce(0) { $0 + $1 - 1 }
        return contents
    }
}

/// A transport that logs redeliveries (a delivery count above 1) and forwards everything.
struct RedeliveryLoggingTransport: QueueTransport {
    let base: any QueueTransport
    let ledger: ChaosLedger

    func declare(_ queue: String) async throws { try await base.declare(queue) }
    func publish(_ message: QueueMessage, to queue: String) async throws { try await base.publish(message, to: queue) }
    func publish(_ messages: [QueueMessage], to queue: String) async throws { try await base.publish(messages, to: queue) }
    func consume(_ queue: String, prefetch: Int) async throws -> QueueConsumer {
        QueueConsumer(Source(base: try await base.consume(queue, prefetch: prefetch), ledger: ledger))
    }
    func depth(of queue: String) async throws -> Int { try await base.depth(of: queue) }
    func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] { try await base.deadLetters(of: queue, limit: limit) }
    func redriveDeadLetters(of queue: String, limit: Int, matching: @Sendable (DeadLetter) -> Bool) async throws -> Int {
        try await base.redriveDeadLetters(of: queue, limit: limit, matching: matching)
    }
    func shutdown() async { await base.shutdown() }

    private struct Source: QueueConsumerSource {
        let base: QueueConsumer
        let ledger: ChaosLedger

        func next() async throws -> QueueDelivery? {
            var iterator = base.makeAsyncIterator()
            let delivery = try await iterator.next()
            if let delivery, delivery.deliveryCount > 1 { ledger.append("D", delivery.queue, String(delivery.deliveryCount)) }
            return delivery
        }

        func stop() async { await base.stop() }
    }
}
