import Foundation
import Logging
import Weft
import WeftAMQP
import WeftLMDB

/// Run control for a fleet: starts, inspects and cancels runs, over the fleet's broker and
/// state store. `weft start|status|cancel|runs|dlq` use it.
///
/// A client runs no node code: blueprints whose code this process lacks are still startable and
/// inspectable (their nodes get placeholders that refuse to run).
public final class FleetClient: Sendable {
    /// The configuration it connected with.
    public let configuration: FleetConfiguration
    /// The broker.
    public let transport: AMQPTransport
    /// The state store.
    public let store: FleetStateStore
    /// The distributed runtime's client.
    public let runtime: DistributedRuntime

    private init(configuration: FleetConfiguration, transport: AMQPTransport, store: FleetStateStore, runtime: DistributedRuntime) {
        self.configuration = configuration
        self.transport = transport
        self.store = store
        self.runtime = runtime
    }

    /// Connects to the broker and opens the store of `configuration`, knowing `blueprints`
    /// (plus the configuration's blueprint files) against `registry`.
    public static func connect(
        _ configuration: FleetConfiguration, registry: NodeRegistry = NodeRegistry(), blueprints: [Blueprint] = [],
        logger: Logger = Logger(label: "weft.client")
    ) async throws -> FleetClient {
        let blueprints = blueprints + (try configuration.blueprints.map(BlueprintFile.load))
        var registry = registry
        for blueprint in blueprints { registry.addPlaceholders(for: blueprint) }
        let store = try await FleetStateStore.open(configuration, logger: logger)
        let transport: AMQPTransport
        do {
            transport = try await AMQPTransport.connect(try configuration.amqpConfiguration(), logger: logger)
        } catch {
            await store.close()
            throw error
        }
        do {
            let catalog = try BlueprintCatalog(registry: registry, blueprints: blueprints, options: configuration.fleetOptions)
            let runtime = DistributedRuntime(
                catalog: catalog,
                backends: WeftBackends(transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore),
                configuration: DistributedRuntime.Configuration(fleet: configuration.fleetOptions, logger: logger))
            return FleetClient(configuration: configuration, transport: transport, store: store, runtime: runtime)
        } catch {
            await transport.shutdown()
            await store.close()
            throw error
        }
    }

    /// Closes the broker connections and the store.
    public func shutdown() async {
        await runtime.shutdown()
        await transport.shutdown()
        await store.close()
    }

    /// The blueprint with `id` (its latest version) that this client knows.
    public func blueprint(id: String) -> Blueprint? {
        runtime.catalog.blueprints.filter { $0.id == id }.last
    }

    /// A run's status and, while it runs, why it is where it is.
    public func explain(_ runID: String) async throws -> RunExplanation {
        let status = try await runtime.status(runID)
        var queues: [String: QueueState] = [:]
        if !status.status.isTerminal {
            for queue in Set(status.nodes.filter(\.ready).map(\.queue)) {
                do {
                    let info = try await transport.queueInfo(queue)
                    queues[queue] = QueueState(messages: info.messages, consumers: info.consumers)
                } catch {
                    queues[queue] = QueueState(messages: 0, consumers: 0, missing: true)
                }
            }
        }
        return RunExplanation(status: status, queues: queues)
    }
}

/// A queue as `weft status` sees it.
public struct QueueState: Sendable, Hashable {
    /// Messages waiting (not yet delivered).
    public var messages: Int
    /// Consumers of every process.
    public var consumers: Int
    /// Whether the queue does not exist at all.
    public var missing = false
}

/// A run's status with the reasons it is not moving, as `weft status` prints it.
public struct RunExplanation: Sendable {
    /// The status.
    public var status: DistributedRunStatus
    /// The queues of the ready nodes.
    public var queues: [String: QueueState]

    /// Why the run is where it is: one line per reason; empty when it ended.
    public func reasons(now: Date = Date()) -> [String] {
        guard !status.status.isTerminal else { return [] }
        var reasons: [String] = []
        for node in status.nodes {
            switch node.state {
            case .quarantined:
                reasons.append("node \(node.nodeID): its job is quarantined (\(node.quarantine ?? "crashed its workers")); redrive it with `weft dlq redrive`")
            case .retrying:
                var line = "node \(node.nodeID): attempt \(node.attempts) failed (\(node.lastError ?? "no message")); delayed retry"
                if let retryAt = node.retryAt {
                    let wait = retryAt - now.timeIntervalSince1970
                    line += " until \(Self.timestamp(retryAt))" + (wait > 0 ? " (in \(Self.seconds(wait)))" : " (due now)")
                }
                reasons.append(line)
            case .pending where node.ready:
                let queue = queues[node.queue]
                if queue?.missing == true {
                    reasons.append("node \(node.nodeID): ready, but its queue \(node.queue) does not exist: no worker serving it ever started")
                } else if let queue, queue.consumers == 0 {
                    reasons.append(
                        "node \(node.nodeID): ready, waiting on queue \(node.queue), which has no consumer: no worker serves it "
                            + "(\(queue.messages) message\(queue.messages == 1 ? "" : "s") waiting)")
                } else if let queue {
                    reasons.append(
                        "node \(node.nodeID): ready, queued on \(node.queue) (\(queue.messages) waiting, \(queue.consumers) consumer\(queue.consumers == 1 ? "" : "s")) or running")
                } else {
                    reasons.append("node \(node.nodeID): ready, queued on \(node.queue) or running")
                }
            case .waiting:
                reasons.append(
                    "node \(node.nodeID): paused for a signal or a timer (a wait answers `weft signal \(status.runID) \(node.nodeID) <action>`)")
            case .runningChildren:
                reasons.append("node \(node.nodeID): its child runs (sub-workflow, loop passes or batch items) are under way")
            case .pending:
                if let join = node.join, join.arrived < join.expected {
                    reasons.append("node \(node.nodeID): waiting on join arrivals \(join.arrived)/\(join.expected) (\(join.strategy.rawValue))")
                }
            default:
                continue
            }
        }
        if reasons.isEmpty { reasons.append("no node is ready: the run waits on work in flight, or the reconciler will look at it") }
        return reasons
    }

    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func seconds(_ value: Double) -> String {
        value < 1 ? String(format: "%.0f ms", value * 1000) : value < 120 ? String(format: "%.1f s", value) : "\(Int(value / 60)) min"
    }
}

extension NodeRegistry {
    /// Registers placeholders for the node code, predicates and transforms `blueprint` uses and
    /// this registry lacks: a client can then start and inspect runs whose code runs elsewhere.
    /// A placeholder node refuses to run.
    mutating func addPlaceholders(for blueprint: Blueprint) {
        for node in blueprint.nodes {
            for key in [node.uses, node.config.fallback].compactMap({ $0 }) where !contains(key) {
                register(key) { (context: NodeContext) async throws -> JSONValue in
                    throw WeftError(.unknownImplementation, "node code \"\(key)\" is not in this process; it runs on the fleet's workers")
                }
            }
        }
        for edge in blueprint.edges {
            if case .predicate(let name) = edge.condition, !containsPredicate(name) { registerPredicate(name) { _ in false } }
            if case .function(let name) = edge.transform, !containsTransform(name) { registerTransform(name) { _ in .null } }
        }
    }
}
