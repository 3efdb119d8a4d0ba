import Foundation
import Logging
import Synchronization
import Testing
import Weft
import WeftPostgres
import WeftTesting

struct RestartFailed: Error {
    var status: Int32
}

extension PostgresTests {
    @Suite("Server restarts")
    struct Restarts {
        /// Restarts the test cluster (scripts/postgres.sh), keeping its data and port.
        static func restartServer() throws { try server("restart") }

        /// Runs `scripts/postgres.sh <command>` on the test cluster.
        static func server(_ command: String) throws {
            guard let dir = ProcessInfo.processInfo.environment["WEFT_POSTGRES_DIR"] else { throw Database.Missing() }
            // Through system(): Foundation's Process was seen to miss the exit of a script whose
            // child (pg_ctl's server) lives on.
            let status = system("bash scripts/postgres.sh \(command) '\(dir)' > /dev/null 2>&1")
            guard status == 0 else { throw RestartFailed(status: status) }
        }

        @Test("When the database restarts mid-run, workers reconnect and every run completes", .timeLimit(.minutes(3)))
        func runsCompleteAcrossARestart() async throws {
            let runs = 12
            let release = Gate()
            let allHeld = Gate()
            let allReleased = Gate()
            let held = Mutex(0)
            let released = Mutex(0)
            let workflow = Workflow("pg-restart-chain") {
                Node("first") { context in JSONValue(context.input.intValue! + 1) }
                Node("hold") { context in
                    if held.withLock({ $0 += 1; return $0 }) == runs { allHeld.open() }
                    await release.wait()
                    if released.withLock({ $0 += 1; return $0 }) == runs { allReleased.open() }
                    return JSONValue(context.input.intValue! * 2)
                }
                Node("last") { context in JSONValue(context.input.intValue! + 3) }
                Chain("first", "hold", "last")
            }
            let store = try await PostgresStateStore.open(try await Database.fresh())
            let backends = WeftBackends(
                transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            var worker = Worker.Configuration(logger: logger)
            worker.concurrency = runs
            worker.timerPollInterval = .milliseconds(100)
            let fleet = try await InProcessFleet.start(
                registry: workflow.registry, blueprints: [workflow.blueprint], workers: 2, backends: backends, worker: worker,
                client: DistributedRuntime.Configuration(resultPollInterval: .milliseconds(200), logger: logger))
            var handles: [DistributedRunHandle] = []
            for input in 0..<runs { handles.append(try await fleet.client.start(workflow.blueprint, input: JSONValue(input))) }
            await allHeld.wait()

            // The nodes finish while the database is away: their records wait for it.
            try Self.server("stop")
            release.open()
            await allReleased.wait()
            try Self.server("start")

            for (input, handle) in handles.enumerated() {
                let result = try await handle.result()
                #expect(result.status == .completed)
                #expect(result.output == JSONValue((input + 1) * 2 + 3))
            }
            await fleet.shutdown()
            await store.close()
        }
    }
}
