import Foundation
import Logging
import Testing
import Weft
import WeftAMQP
import WeftFleet
import WeftSamples
@testable import WeftCLI

/// The fleet for real: `weft` processes on a real RabbitMQ and LMDB store, one test at a time.
@Suite("Fleet end to end: foreman, workers, run control and the dashboard", .serialized)
struct FleetEndToEndTests {
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func orderInput(_ index: Int) -> JSONValue {
        let customer = index % 5 == 0 ? "buyer\(index)@other.example.org" : "buyer\(index)@example.com"
        let quantity = index % 7 == 0 ? 40 : 1 + index % 4
        return [
            "orderId": .string("E-\(index)"), "customer": .string(customer),
            "lines": [["sku": "loom-shuttle", "quantity": .int(Int64(quantity)), "price": 35.5], ["sku": "weft-yarn", "quantity": 3, "price": 4.2]],
        ]
    }

    @Test("A foreman with 3 workers completes 200 fan-out runs as the embedded runtime does, while a worker is killed and replaced")
    func foremanSurvivesAKilledWorker() async throws {
        var configuration = try FleetHarness.configuration()
        configuration.logLevel = .warning
        // A worker killed between recording a result and publishing what follows leaves its run
        // to the reconciler: let it look after 3 s rather than the default 30.
        configuration.stallTimeout = 3
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-e2e-\(UUID().uuidString).json").path
        try configuration.json.jsonString(pretty: true).write(toFile: file, atomically: true, encoding: .utf8)
        let foreman = try WeftProcess(["foreman", "--workers", "3", "--concurrency", "4", "--config", file])
        let status = FleetStatusDirectory(path: configuration.statusDirectory)
        try await FleetHarness.waitUntil("three workers report") { status.workers().count == 3 }

        let sample = OrderPipeline.workflow
        let client = try await FleetClient.connect(
            configuration, registry: sample.registry, blueprints: [sample.blueprint], logger: Self.quiet)
        let local = LocalRuntime(sample)
        let finished = Tally()
        let killed = Task {
            try await FleetHarness.waitUntil("50 runs finished") { finished.value >= 50 }
            let victim = try #require(status.foreman()?.slots.compactMap(\.pid).first)
            kill(victim, SIGKILL)
            return victim
        }
        let differences = try await withThrowingTaskGroup(of: [String].self) { group in
            for index in 0..<200 {
                group.addTask {
                    let input = Self.orderInput(index)
                    let handle = try await client.runtime.start(sample.blueprint, input: input)
                    let result = try await handle.result()
                    finished.add()
                    let expected = try await local.run(sample.blueprint, input: input)
                    var differences: [String] = []
                    if result.status != expected.status { differences.append("run \(index): \(result.status) ≠ \(expected.status)") }
                    if result.output != expected.output { differences.append("run \(index): output \(String(describing: result.output))") }
                    return differences
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(differences.isEmpty, "\(differences.prefix(5))")
        let victim = try await killed.value

        // The foreman noticed and started a replacement.
        try await FleetHarness.waitUntil("the killed worker is replaced") {
            guard let report = status.foreman() else { return false }
            return report.slots.compactMap(\.pid).count == 3 && !report.slots.contains { $0.pid == victim }
        }
        let report = try #require(status.foreman())
        #expect(report.decisions.contains { $0.action == "restart" && $0.reason.contains("killed by signal 9") })
        #expect(report.slots.map(\.restarts).reduce(0, +) == 1)

        await client.shutdown()
        let workers = report.slots.compactMap(\.pid)
        foreman.signal(SIGTERM)
        #expect(await foreman.exitStatus() == 0, "\(foreman.output.suffix(2000))")
        for pid in workers { #expect(kill(pid, 0) != 0, "worker \(pid) outlived its foreman") }
    }

    @Test("A worker stopped with SIGTERM finishes its jobs in hand and acks nothing else; another finishes the runs; nothing is lost or done twice")
    func gracefulDrain() async throws {
        let configuration = try FleetHarness.configuration()
        let first = try WeftProcess(["worker", "--concurrency", "4", "--drain-timeout", "20"] + FleetHarness.flags(configuration))
        let status = FleetStatusDirectory(path: configuration.statusDirectory)
        let workload = FleetWorkloads.slowChain
        let client = try await FleetClient.connect(
            configuration, registry: workload.registry, blueprints: [workload.blueprint], logger: Self.quiet)
        var handles: [DistributedRunHandle] = []
        for index in 0..<4 { handles.append(try await client.runtime.start(workload.blueprint, input: .int(Int64(index)))) }
        try await FleetHarness.waitUntil("the worker has four jobs in hand") {
            status.workers().first { $0.pid == first.pid }?.jobs.count == 4
        }
        first.signal(SIGTERM)
        #expect(await first.exitStatus() == 0)
        let firstLog = first.output
        #expect(firstLog.contains("worker drained: every job in hand finished"), "\(firstLog.suffix(2000))")
        let firstCompleted = try #require(Self.count("completed", in: firstLog))

        let second = try WeftProcess(["worker", "--concurrency", "4"] + FleetHarness.flags(configuration))
        for handle in handles { #expect(try await handle.result().status == .completed) }
        for handle in handles {
            let nodes = try await handle.status().nodes
            #expect(nodes.allSatisfy { $0.state == .completed && $0.attempts == 1 }, "\(nodes)")
        }
        second.signal(SIGTERM)
        #expect(await second.exitStatus() == 0)
        let secondLog = second.output
        let secondCompleted = try #require(Self.count("completed", in: secondLog))
        // Eight jobs in all (two nodes of four runs): each run by exactly one of the two workers
        // (a message the broker delivered twice is recognised by its recorded result and
        // dropped, which delivery at least once allows).
        #expect(firstCompleted == 4)
        #expect(firstCompleted + secondCompleted == 8)
        await client.shutdown()
    }

    @Test("A durable sleep spans a SIGKILLed worker and completes on its replacement; `weft signal` resumes a wait")
    func sleepAndSignalAcrossAKill() async throws {
        let configuration = try FleetHarness.configuration()
        let first = try WeftProcess(["worker", "--concurrency", "4"] + FleetHarness.flags(configuration))
        let client = try await FleetClient.connect(
            configuration, registry: FleetWorkloads.registry,
            blueprints: [FleetWorkloads.nap.blueprint, FleetWorkloads.approval.blueprint], logger: Self.quiet)
        let nap = try await client.runtime.start(FleetWorkloads.nap.blueprint, input: "zz")
        let approval = try await client.runtime.start(FleetWorkloads.approval.blueprint, input: ["claim": 7])
        try await FleetHarness.waitUntil("both runs wait") {
            let napping = try await nap.status().status
            let deciding = try await approval.status().status
            return napping == .waiting && deciding == .waiting
        }
        // The worker dies while the sleep's timer is pending and the wait is open.
        first.signal(SIGKILL)
        _ = await first.exitStatus()
        let second = try WeftProcess(["worker", "--concurrency", "4"] + FleetHarness.flags(configuration))
        let napped = try await nap.result()
        #expect(napped.status == .completed)
        #expect(napped.output == "zz")

        let signal = try WeftProcess(
            ["signal", approval.runID, "decide", "approve", "--payload", #"{"by":"ops"}"#] + FleetHarness.flags(configuration))
        #expect(await signal.exitStatus() == 0, "\(signal.output)")
        let approved = try await approval.result()
        #expect(approved.output == ["by": "ops"])
        #expect(approved[node: "rejected"]?.status == .skipped)
        let late = try WeftProcess(["signal", approval.runID, "decide", "reject"] + FleetHarness.flags(configuration))
        #expect(await late.exitStatus() == 1)
        #expect(late.output.contains("has ended (completed)"), "\(late.output)")

        second.signal(SIGTERM)
        #expect(await second.exitStatus() == 0)
        await client.shutdown()
    }

    @Test("Two workers on \"two hosts\" share one PostgreSQL database and complete runs together; weft store migrate and weft runs work on it")
    func postgresAcrossHosts() async throws {
        guard let url = ProcessInfo.processInfo.environment["WEFT_POSTGRES_URL"] else {
            Issue.record("WEFT_POSTGRES_URL is not set: run the tests with scripts/test.sh")
            return
        }
        var configuration = try FleetHarness.configuration()
        configuration.store = url
        let migrate = try WeftProcess(["store", "migrate", url])
        #expect(await migrate.exitStatus() == 0, "\(migrate.output)")
        #expect(migrate.output.contains("schema version 2"), "\(migrate.output)")
        // Two hosts: each its own configuration and status directory, no LMDB anywhere.
        var hosts: [WeftProcess] = []
        for host in ["host-a", "host-b"] {
            var own = configuration
            own.statusDir = FileManager.default.temporaryDirectory.appendingPathComponent("weft-\(host)-\(UUID().uuidString)").path
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-\(host)-\(UUID().uuidString).json").path
            try own.json.jsonString(pretty: true).write(toFile: file, atomically: true, encoding: .utf8)
            hosts.append(try WeftProcess(["worker", "--concurrency", "4", "--config", file]))
        }
        let workload = FleetWorkloads.chain
        let client = try await FleetClient.connect(
            configuration, registry: workload.registry, blueprints: [workload.blueprint], logger: Self.quiet)
        let handles = try await withThrowingTaskGroup(of: DistributedRunHandle.self) { group in
            for index in 0..<40 { group.addTask { try await client.runtime.start(workload.blueprint, input: .int(Int64(index))) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for handle in handles {
            let result = try await handle.result()
            #expect(result.status == .completed)
            #expect(result.nodes.allSatisfy { $0.status == .completed && $0.attempts == 1 })
        }
        let runs = try WeftProcess(["runs", "--limit", "100"] + FleetHarness.flags(configuration))
        #expect(await runs.exitStatus() == 0, "\(runs.output)")
        #expect(runs.output.components(separatedBy: "chain-10@1").count - 1 >= 40, "\(runs.output.suffix(500))")
        for host in hosts { host.signal(SIGTERM) }
        var completed: [Int] = []
        for host in hosts {
            #expect(await host.exitStatus() == 0, "\(host.output.suffix(2000))")
            completed.append(Self.count("completed", in: host.output) ?? 0)
        }
        // 400 jobs in all, and both hosts took part.
        #expect(completed.reduce(0, +) >= 400 && completed.allSatisfy { $0 > 0 }, "\(completed)")
        await client.shutdown()
    }

    /// A count from a worker's last log line (`weft.completed=N`).
    static func count(_ name: String, in log: String) -> Int? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("weft.\(name)=") }),
            let range = line.range(of: "weft.\(name)=")
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    @Test("Mutual TLS end to end: a worker and a client with certificates complete a run over amqps://; without one the broker refuses")
    func mutualTLS() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["WEFT_FLEET_AMQPS_URL"], let tls = environment["WEFT_FLEET_AMQP_TLS_DIR"] else {
            throw FleetHarness.Missing()
        }
        var configuration = try FleetHarness.configuration()
        configuration.broker = url
        let certificates = ["--tls-ca", "\(tls)/ca.pem", "--tls-cert", "\(tls)/client.pem", "--tls-key", "\(tls)/client.key"]
        let worker = try WeftProcess(["worker"] + FleetHarness.flags(configuration) + certificates)
        let start = try WeftProcess(["start", "chain-10", "--input", "1", "--wait"] + FleetHarness.flags(configuration) + certificates)
        #expect(await start.exitStatus() == 0, "\(start.output)")
        #expect(start.output.contains("status: completed"), "\(start.output)")
        // The CA alone is not enough: the broker asks for a client certificate.
        let refused = try WeftProcess(["start", "chain-10", "--input", "1"] + FleetHarness.flags(configuration) + Array(certificates.prefix(2)))
        #expect(await refused.exitStatus() != 0)
        #expect(refused.output.contains("tls_failure") || refused.output.contains("TLS"), "\(refused.output)")
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus() == 0, "\(worker.output)")
    }

    @Test("weft status explains a run blocked on a queue nobody serves")
    func statusExplainsABlockedRun() async throws {
        let configuration = try FleetHarness.configuration()
        let worker = try WeftProcess(["worker", "--queue", ""] + FleetHarness.flags(configuration))
        let workload = FleetWorkloads.gpuStep
        let client = try await FleetClient.connect(
            configuration, registry: workload.registry, blueprints: [workload.blueprint], logger: Self.quiet)
        let handle = try await client.runtime.start(workload.blueprint, input: 1)
        try await FleetHarness.waitUntil("the first node completed") {
            try await handle.status().nodes.first { $0.nodeID == "prepare" }?.state == .completed
        }
        // The command opens the store itself (once per process): the test's client lets go of it.
        await client.shutdown()
        let output = await StatusCommand.execute(
            run: handle.runID, flags: try FleetFlags.parse(FleetHarness.flags(configuration)))
        #expect(output.status == 0, "\(output.standardError)")
        let queue = configuration.fleetOptions.jobQueue(label: "gpu")
        #expect(output.standardOutput.contains("run \(handle.runID): running (gpu-step@"))
        #expect(output.standardOutput.contains("why:\n  node render: ready, waiting on queue \(queue), which has no consumer: no worker serves it"),
                "\(output.standardOutput)")
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus() == 0)
    }

    @Test("weft dlq lists a malformed job the worker dead-lettered, with its reason, and redrives it")
    func deadLetters() async throws {
        let configuration = try FleetHarness.configuration()
        let worker = try WeftProcess(["worker"] + FleetHarness.flags(configuration))
        let transport = try await AMQPTransport.connect(try configuration.amqpConfiguration(), logger: Self.quiet)
        let queue = configuration.fleetOptions.jobQueue(label: nil)
        try await transport.declare(queue)
        try await transport.publish(QueueMessage(body: Array("not an envelope".utf8)), to: queue)
        try await FleetHarness.waitUntil("the job is dead-lettered") {
            try await transport.queueInfo(queue + ".dead-letter").messages == 1
        }
        await transport.shutdown()
        let flags = try FleetFlags.parse(FleetHarness.flags(configuration))
        let list = await DLQCommand.list(label: "", limit: 10, flags: flags)
        #expect(list.status == 0, "\(list.standardError)")
        #expect(list.standardOutput.contains("(the message is not an envelope)"), "\(list.standardOutput)")
        #expect(list.standardOutput.hasSuffix("1 dead letter in \(queue).dead-letter\n"))
        let redrive = await DLQCommand.redrive(label: "", limit: 10, run: nil, flags: flags)
        #expect(redrive.standardOutput == "redrove 1 dead letter to \(queue)\n", "\(redrive.standardError)")
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus() == 0)
        #expect(worker.output.contains("dead"), "the worker said nothing of the malformed job")
    }

    @Test("weft top draws the fleet in a terminal and exits cleanly on Ctrl-C")
    func topInATerminal() async throws {
        let configuration = try FleetHarness.configuration()
        let worker = try WeftProcess(["worker", "--concurrency", "2"] + FleetHarness.flags(configuration))
        let status = FleetStatusDirectory(path: configuration.statusDirectory)
        try await FleetHarness.waitUntil("the worker reports") { !status.workers().isEmpty }
        let session = "weft-top-\(UUID().uuidString.prefix(8))"
        let command = ([FleetHarness.weft, "top", "--interval", "0.3"] + FleetHarness.flags(configuration)).map { "'\($0)'" }
            .joined(separator: " ")
        #expect(Self.tmux(["new-session", "-d", "-s", session, "-x", "140", "-y", "40", command]).status == 0)
        var screen = ""
        try await FleetHarness.waitUntil("the dashboard shows the worker") {
            screen = Self.tmux(["capture-pane", "-p", "-t", session]).output
            return screen.contains("\(worker.pid)") && screen.contains("FOREMAN")
        }
        #expect(screen.contains("weft top — "))
        #expect(screen.contains(configuration.fleetOptions.jobQueue(label: nil)))
        #expect(screen.contains("running"))
        _ = Self.tmux(["send-keys", "-t", session, "C-c"])
        try await FleetHarness.waitUntil("weft top exits") { Self.tmux(["has-session", "-t", session]).status != 0 }
        worker.signal(SIGTERM)
        #expect(await worker.exitStatus() == 0)
    }

    /// Runs tmux and returns its status and output. Through `system()` (fork and wait for that
    /// child alone) rather than Foundation's `Process`, whose wait for an exit was seen to hang
    /// here; the output goes through a file, since the server `new-session` starts keeps any
    /// pipe open.
    static func tmux(_ arguments: [String]) -> (status: Int32, output: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-tmux-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = system("/usr/bin/tmux \(quoted) > '\(path)' 2>&1 < /dev/null")
        return (status, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }
}
