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
        /// A cluster of this test's own (scripts/postgres.sh in a temporary folder), since it
        /// stops and starts it while other tests use theirs.
        struct Cluster {
            let directory: String
            let url: String

            static func start() throws -> Cluster {
                var template = Array("/tmp/weft-pg-restart-XXXXXX".utf8CString)
                let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
                let cluster = Cluster(directory: directory, url: "")
                try cluster.run("start")
                let settings = try String(contentsOfFile: directory + "/settings", encoding: .utf8)
                var values: [String: String] = [:]
                for line in settings.split(separator: "\n") {
                    let parts = line.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
                }
                guard let port = values["PORT"], let password = values["PASSWORD"] else { throw RestartFailed(status: -1) }
                return Cluster(directory: directory, url: "postgres://weft:\(password)@127.0.0.1:\(port)/weft?sslmode=disable&pool=4")
            }

            /// Runs `scripts/postgres.sh <command>` on it, through system(): Foundation's Process
            /// was seen to miss the exit of a script whose child (the server) lives on.
            func run(_ command: String) throws {
                let status = system("bash scripts/postgres.sh \(command) '\(directory)' > /dev/null 2>&1")
                guard status == 0 else { throw RestartFailed(status: status) }
            }

            func remove() {
                try? run("stop")
                _ = system("rm -rf '\(directory)'")
            }
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
            let cluster = try Cluster.start()
            defer { cluster.remove() }
            let store = try await PostgresStateStore.open(try PostgresConfiguration(url: cluster.url))
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
            try cluster.run("stop")
            release.open()
            await allReleased.wait()
            try cluster.run("start")

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
