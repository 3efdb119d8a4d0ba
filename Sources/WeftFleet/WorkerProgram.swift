import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import Weft
import WeftAMQP
import WeftLMDB

/// A worker process: your node registry and blueprints, the broker and the state store from
/// the fleet's configuration. Build your own worker executable with one call:
///
/// ```swift
/// // Sources/my-worker/main.swift
/// import WeftFleet
///
/// await WorkerProgram(registry: MyNodes.registry, blueprints: [orders.blueprint]).main()
/// ```
///
/// It takes the flags of `weft worker` (``FleetFlags``), reads the same configuration file and
/// environment, logs to standard error, serves metrics when a port is set, and drains on SIGTERM
/// or SIGINT. Point the foreman at it with `foreman.workerCommand`.
public struct WorkerProgram: Sendable {
    /// The node code.
    public var registry: NodeRegistry
    /// The blueprints compiled in (the configuration's blueprint files are added).
    public var blueprints: [Blueprint]
    /// Middleware around every attempt, inside the fleet's own instrumentation.
    public var middleware: [any NodeMiddleware]
    /// Wraps the backends the worker runs on once they are open: instrumentation, auditing or
    /// fault injection. A wrapper must forward every requirement of the protocols it wraps, or
    /// the protocols' default implementations replace the backend's own. Default: unchanged.
    public var decorateBackends: @Sendable (WeftBackends) -> WeftBackends

    /// A worker for `blueprints` over `registry`.
    public init(
        registry: NodeRegistry, blueprints: [Blueprint], middleware: [any NodeMiddleware] = [],
        decorateBackends: @escaping @Sendable (WeftBackends) -> WeftBackends = { $0 }
    ) {
        self.registry = registry
        self.blueprints = blueprints
        self.middleware = middleware
        self.decorateBackends = decorateBackends
    }

    /// Parses `arguments` as ``FleetFlags``, runs the worker until it is stopped, and exits the
    /// process: status 0 after a clean stop, 1 on an error (printed), 64 on bad flags or settings.
    public func main(arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        let flags: FleetFlags
        do {
            flags = try WorkerArguments.parse(arguments).flags
        } catch {
            WorkerArguments.exit(withError: error)
        }
        let configuration: FleetConfiguration
        do {
            configuration = try flags.load()
            // Refused before anything connects: reports in a directory another user controls
            // would tell them what this fleet runs.
            try FleetStatusDirectory(path: configuration.statusDirectory).prepare()
        } catch {
            FileHandle.standardError.write(Data("weft worker: \(error)\n".utf8))
            exit(64)
        }
        FleetProcess.bootstrap(configuration)
        do {
            try await run(configuration)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("weft worker: error: \(error)\n".utf8))
            exit(1)
        }
    }

    /// Runs the worker with `configuration` until SIGTERM or SIGINT (then drains) or a failure.
    /// Call ``FleetProcess/bootstrap(_:)`` first to set up logging and metrics.
    public func run(_ configuration: FleetConfiguration) async throws {
        var logger = Logger(label: "weft.worker")
        logger.logLevel = configuration.logLevel
        logger[metadataKey: "weft.pid"] = "\(getpid())"
        let transport = try await AMQPTransport.connect(try configuration.amqpConfiguration(), logger: logger)
        let store: FleetStateStore
        do {
            store = try await FleetStateStore.open(configuration, logger: logger)
        } catch {
            await transport.shutdown()
            throw error
        }
        do {
            let failures = RecentFailures()
            var workerConfiguration = Worker.Configuration(
                fleet: configuration.fleetOptions, concurrency: configuration.concurrency,
                queueLabels: configuration.queues.map(Set.init), middleware: [WorkerInstrumentation(failures: failures)] + middleware,
                logger: logger)
            workerConfiguration.blockingExecutor = BlockingExecutor(threads: configuration.blockingThreads)
            workerConfiguration.maxInlineSuccessors = configuration.inlineSuccessors
            let worker = try Worker(
                registry: registry, blueprints: blueprints + configuration.blueprints.map(BlueprintFile.load),
                backends: decorateBackends(
                    WeftBackends(transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)),
                configuration: workerConfiguration)
            var services = [
                ServiceGroupConfiguration.ServiceConfiguration(
                    service: WorkerService(
                        worker: worker, drainTimeout: .milliseconds(Int64(configuration.drainTimeout * 1000)),
                        statusDirectory: FleetStatusDirectory(path: configuration.statusDirectory), failures: failures,
                        idleTrim: { [store, logger] in
                            worker.releaseCaches()
                            await worker.recycleConsumers()
                            HeapTrim.run()
                            if !store.releaseMappedPages() {
                                logger.debug("could not release the store's mapped pages", metadata: ["weft.errno": "\(errno)"])
                            }
                        }, logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup)
            ]
            if let foreman = ProcessInfo.processInfo.environment["WEFT_FOREMAN_PID"].flatMap(Int32.init) {
                services.append(
                    .init(service: ForemanWatch(foreman: foreman, logger: logger), successTerminationBehavior: .gracefullyShutdownGroup))
            }
            if configuration.metricsPort > 0, let registry = FleetProcess.metricsRegistry {
                services.append(.init(service: MetricsServer(registry: registry, port: configuration.metricsPort, logger: logger)))
            }
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await transport.shutdown()
            await store.close()
            throw error
        }
        await transport.shutdown()
        await store.close()
        logger.info("worker process stopped")
    }
}

/// The command line of a worker executable: ``FleetFlags`` under the executable's own name.
private struct WorkerArguments: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: URL(fileURLWithPath: CommandLine.arguments.first ?? "worker").lastPathComponent,
        abstract: "A Weft worker: consumes the fleet's queues and runs nodes until SIGTERM or SIGINT (then drains).")

    @OptionGroup var flags: FleetFlags
}

/// Process-wide set-up of the fleet's processes: logging and metrics, once.
public enum FleetProcess {
    private static let state = Mutex<(bootstrapped: Bool, registry: PrometheusCollectorRegistry?)>((false, nil))

    /// Logs to standard error at the configuration's level and, when it has a metrics port,
    /// reports metrics to a Prometheus registry. Only the first call in a process counts.
    public static func bootstrap(_ configuration: FleetConfiguration) {
        let first = state.withLock { state -> Bool in
            guard !state.bootstrapped else { return false }
            state.bootstrapped = true
            if configuration.metricsPort > 0 { state.registry = PrometheusCollectorRegistry() }
            return true
        }
        guard first else { return }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        if let registry = metricsRegistry { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }
    }

    /// The registry metrics go to, when a metrics port was configured.
    public static var metricsRegistry: PrometheusCollectorRegistry? { state.withLock { $0.registry } }
}
