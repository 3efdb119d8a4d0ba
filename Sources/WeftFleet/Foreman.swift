import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import UnixSignals
import Weft
import WeftAMQP

/// Keeps a machine's worker processes alive: starts `foreman.workers` of them, restarts one
/// that dies (with a growing delay, and not beyond `restartLimit` crashes a minute), replaces
/// them one by one on SIGHUP with the reloaded configuration, scales their number between
/// `minWorkers` and `maxWorkers` from the job queues' depth (``ScalingPolicy``), and records
/// every decision with its reason (log, and `<store>/fleet/foreman.json` for `weft top`). On
/// SIGTERM or SIGINT it drains its workers (SIGTERM each, SIGKILL after their drain timeout).
public final class Foreman: Service, Sendable {
    /// Rereads the configuration (on SIGHUP).
    public typealias Reload = @Sendable () throws -> FleetConfiguration

    enum Event: Sendable {
        case exited(slot: Int, generation: Int, status: Int32, signaled: Bool)
        case restart(slot: Int, generation: Int)
        case sample(depth: Int, inHand: Int)
        case reload
        case shutdown
    }

    struct Slot: Sendable {
        var index: Int
        var generation = 0
        var process: Process?
        var state = "starting"
        var restarts = 0
        var crashes: [Double] = []
        /// Asked to stop: its exit is not a crash.
        var stopping = false
        /// To be started again (with the current configuration) once it has stopped.
        var replace = false
        /// To go away once it has stopped (scaled down).
        var retire = false
    }

    struct State: Sendable {
        var configuration: FleetConfiguration
        var slots: [Int: Slot] = [:]
        var nextIndex = 0
        var desired: Int
        var decisions: [ForemanReport.Decision] = []
        var policy: ScalingPolicy
        var shuttingDown = false
        /// Why the foreman stops on its own, failing: every slot crash-loops.
        var failure: String?
    }

    let state: Mutex<State>
    let reloadConfiguration: Reload
    let logger: Logger
    let events: AsyncStream<Event>
    let eventSink: AsyncStream<Event>.Continuation
    let startedAt = Date().timeIntervalSince1970

    /// A foreman for `configuration`; `reload` rereads it on SIGHUP.
    public init(configuration: FleetConfiguration, reload: @escaping Reload, logger: Logger) {
        state = Mutex(State(
            configuration: configuration, desired: configuration.foreman.workers,
            policy: ScalingPolicy(minWorkers: configuration.foreman.minWorkers, maxWorkers: configuration.foreman.maxWorkers)))
        reloadConfiguration = reload
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
    }

    /// The configuration now (changed by a reload).
    public var configuration: FleetConfiguration { state.withLock { $0.configuration } }

    public func run() async throws {
        let configuration = self.configuration
        try writeWorkerConfiguration(configuration)
        decide("start", "starting \(configuration.foreman.workers) workers")
        for _ in 0..<configuration.foreman.workers { startNewSlot() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchHangups() }
            group.addTask { await self.sampleQueues() }
            group.addTask { await self.writeReports() }
            await withGracefulShutdownHandler {
                await self.handleEvents()
            } onGracefulShutdown: {
                self.eventSink.yield(.shutdown)
            }
            group.cancelAll()
        }
        writeReport()
        if let failure = state.withLock({ $0.failure }) {
            logger.error("foreman stopped: \(failure)")
            throw WeftError(.workersCrashLooping, failure)
        }
        logger.info("foreman stopped")
    }

    // MARK: Events

    private func handleEvents() async {
        for await event in events {
            switch event {
            case .exited(let index, let generation, let status, let signaled):
                exited(index, generation: generation, status: status, signaled: signaled)
            case .restart(let index, let generation):
                let current = state.withLock { $0.slots[index].map { $0.generation == generation && $0.process == nil } ?? false }
                if current && !state.withLock({ $0.shuttingDown }) { start(index) }
            case .sample(let depth, let inHand):
                scale(depth: depth, inHand: inHand)
            case .reload:
                reload()
            case .shutdown:
                beginShutdown()
            }
            writeReport()
            if state.withLock({ $0.shuttingDown && $0.slots.values.allSatisfy { $0.process == nil } }) { return }
        }
    }

    private func exited(_ index: Int, generation: Int, status: Int32, signaled: Bool) {
        let now = Date().timeIntervalSince1970
        enum Next { case nothing, restartNow, restartLater(Duration), giveUp(Int), removed }
        let (next, description) = state.withLock { state -> (Next, String) in
            guard var slot = state.slots[index], slot.generation == generation else { return (.nothing, "") }
            slot.process = nil
            let description = signaled ? "killed by signal \(status)" : "exited with status \(status)"
            defer { state.slots[index] = slot }
            if state.shuttingDown {
                slot.state = "stopped"
                return (.nothing, description)
            }
            if slot.retire {
                state.slots[index] = nil
                return (.removed, description)
            }
            if slot.stopping {
                slot.stopping = false
                if slot.replace {
                    slot.replace = false
                    return (.restartNow, description)
                }
                slot.state = "stopped"
                return (.nothing, description)
            }
            slot.crashes = slot.crashes.filter { now - $0 < 60 } + [now]
            if slot.crashes.count >= state.configuration.foreman.restartLimit {
                slot.state = "crash-looping"
                return (.giveUp(slot.crashes.count), description)
            }
            slot.restarts += 1
            slot.state = "restarting"
            let delay = Duration.milliseconds(min(30_000, 500 * (1 << min(slot.crashes.count - 1, 6))))
            return (.restartLater(delay), description)
        }
        switch next {
        case .nothing, .removed:
            logger.info("worker stopped", metadata: ["weft.slot": "\(index)", "weft.exit": "\(description)"])
            continueReplacing()
        case .restartNow:
            decide("replace", "worker \(index) drained; starting it with the reloaded configuration")
            start(index)
            continueReplacing()
        case .restartLater(let delay):
            Counter(label: "weft_foreman_restarts_total").increment()
            decide("restart", "worker \(index) \(description); restarting in \(delay)")
            let generation = state.withLock { $0.slots[index]?.generation ?? 0 }
            let sink = eventSink
            Task {
                try? await Task.sleep(for: delay)
                sink.yield(.restart(slot: index, generation: generation))
            }
        case .giveUp(let crashes):
            decide(
                "give-up",
                "worker \(index) \(description), its \(crashes)th crash within a minute: not restarting it (crash loop; see its log)")
            // With no worker left, staying up would hide the failure from whatever supervises
            // the foreman: it stops, and `run()` throws, so that the process exits non-zero.
            let failure = state.withLock { state -> String? in
                let live = state.slots.values.filter { !$0.retire && $0.state != "crash-looping" }
                guard live.isEmpty, !state.shuttingDown else { return nil }
                let slots = state.slots.count == 1 ? "1 slot" : "\(state.slots.count) slots"
                state.failure = "every worker slot crash-loops (\(slots), each with "
                    + "\(state.configuration.foreman.restartLimit) crashes within a minute); see the workers' logs"
                return state.failure
            }
            if let failure {
                decide("exit", failure)
                beginShutdown()
            }
        }
    }

    private func scale(depth: Int, inHand: Int) {
        let decision = state.withLock { state -> ScalingPolicy.Decision? in
            guard !state.shuttingDown, !state.slots.values.contains(where: { $0.replace }) else { return nil }
            let running = state.slots.values.filter { !$0.retire && $0.state != "crash-looping" }.count
            guard let decision = state.policy.observe(depth: depth, inHand: inHand, workers: running) else { return nil }
            state.desired = decision.workers
            return decision
        }
        guard let decision else { return }
        let running = state.withLock { state in state.slots.values.filter { !$0.retire && $0.state != "crash-looping" }.count }
        if decision.workers > running {
            decide("scale-up", "to \(decision.workers) workers: \(decision.reason)")
            startNewSlot()
        } else {
            decide("scale-down", "to \(decision.workers) workers: \(decision.reason)")
            let victim = state.withLock { state -> Slot? in
                guard let index = state.slots.values.filter({ !$0.retire && $0.process != nil }).map(\.index).max() else { return nil }
                state.slots[index]?.retire = true
                state.slots[index]?.stopping = true
                state.slots[index]?.state = "stopping"
                return state.slots[index]
            }
            if let process = victim?.process { kill(process.processIdentifier, SIGTERM) }
        }
    }

    private func reload() {
        let configuration: FleetConfiguration
        do {
            configuration = try reloadConfiguration()
            try writeWorkerConfiguration(configuration)
        } catch {
            decide("reload-refused", "the configuration cannot be used, keeping the running one: \(error)")
            return
        }
        state.withLock { state in
            state.configuration = configuration
            state.policy.minWorkers = configuration.foreman.minWorkers
            state.policy.maxWorkers = configuration.foreman.maxWorkers
            for index in state.slots.keys where state.slots[index]?.process != nil { state.slots[index]?.replace = true }
        }
        decide("reload", "configuration reloaded; replacing the workers one by one")
        continueReplacing()
    }

    /// Stops the next worker marked for replacement, unless one is already stopping.
    private func continueReplacing() {
        let next = state.withLock { state -> Process? in
            guard !state.shuttingDown, !state.slots.values.contains(where: { $0.replace && $0.stopping }) else { return nil }
            guard let index = state.slots.values.filter({ $0.replace && $0.process != nil }).map(\.index).min() else { return nil }
            state.slots[index]?.stopping = true
            state.slots[index]?.state = "replacing"
            return state.slots[index]?.process
        }
        if let next { kill(next.processIdentifier, SIGTERM) }
    }

    private func beginShutdown() {
        let processes = state.withLock { state -> [Process] in
            state.shuttingDown = true
            for index in state.slots.keys {
                state.slots[index]?.stopping = true
                state.slots[index]?.state = "stopping"
            }
            return state.slots.values.compactMap(\.process)
        }
        decide("shutdown", "stopping \(processes.count) workers (each drains its jobs in hand)")
        for process in processes { kill(process.processIdentifier, SIGTERM) }
        let deadline = configuration.drainTimeout + 10
        Task {
            try? await Task.sleep(for: .seconds(deadline))
            for process in processes where process.isRunning {
                self.logger.warning("a worker did not stop in time; killing it", metadata: ["weft.pid": "\(process.processIdentifier)"])
                kill(process.processIdentifier, SIGKILL)
            }
        }
    }

    // MARK: Decisions and reports

    func decide(_ action: String, _ reason: String) {
        logger.notice("foreman: \(action): \(reason)")
        state.withLock { state in
            state.decisions.append(ForemanReport.Decision(at: Date().timeIntervalSince1970, action: action, reason: reason))
            if state.decisions.count > 50 { state.decisions.removeFirst(state.decisions.count - 50) }
        }
    }

    /// The foreman's report now.
    public var report: ForemanReport {
        state.withLock { state in
            ForemanReport(
                pid: getpid(), startedAt: startedAt, updatedAt: Date().timeIntervalSince1970, desiredWorkers: state.desired,
                slots: state.slots.values.sorted { $0.index < $1.index }.map {
                    ForemanReport.Slot(index: $0.index, pid: $0.process?.processIdentifier, state: $0.state, restarts: $0.restarts)
                },
                decisions: state.decisions)
        }
    }

    func writeReport() {
        let report = self.report
        Gauge(label: "weft_foreman_workers").record(report.slots.filter { $0.pid != nil }.count)
        do {
            try FleetStatusDirectory(path: configuration.statusDirectory).write(report, as: "foreman.json")
        } catch {
            logger.warning("could not write the foreman's report", metadata: ["weft.error": "\(error)"])
        }
    }

    private func writeReports() async {
        while !Task.isCancelled {
            writeReport()
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func watchHangups() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) { eventSink.yield(.reload) }
    }

    /// Samples the depth of the workers' job queues every `scaleInterval`.
    private func sampleQueues() async {
        var transport: AMQPTransport?
        defer { if let transport { Task { await transport.shutdown() } } }
        while !Task.isCancelled {
            let configuration = self.configuration
            try? await Task.sleep(for: .milliseconds(Int64(configuration.foreman.scaleInterval * 1000)))
            if Task.isCancelled { return }
            do {
                if transport == nil {
                    var quiet = logger
                    quiet.logLevel = .warning
                    transport = try await AMQPTransport.connect(try configuration.amqpConfiguration(), logger: quiet)
                }
                let labels = configuration.queues ?? [""]
                var depth = 0
                for label in labels {
                    depth += (try? await transport!.queueInfo(configuration.fleetOptions.jobQueue(label: label)).messages) ?? 0
                }
                let inHand = FleetStatusDirectory(path: configuration.statusDirectory).workers().reduce(0) { $0 + $1.jobs.count }
                eventSink.yield(.sample(depth: depth, inHand: inHand))
            } catch {
                logger.warning("could not sample the queues for scaling", metadata: ["weft.error": "\(error)"])
            }
        }
    }
}
