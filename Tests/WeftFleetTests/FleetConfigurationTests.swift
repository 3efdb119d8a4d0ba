import Foundation
import Testing
import Weft
@testable import WeftCLI
@testable import WeftFleet

@Suite("Fleet configuration: file, environment and flags, and clear errors")
struct FleetConfigurationTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-config-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("Flags beat the environment, which beats the file, which beats the defaults")
    func precedence() throws {
        let path = try Self.file(#"{"broker": "amqp://file-host/", "store": "/tmp", "concurrency": 3, "logLevel": "debug", "foreman": {"workers": 2}}"#)
        var overrides = FleetConfiguration.Overrides()
        overrides.concurrency = 7
        let configuration = try FleetConfiguration.load(
            file: path, environment: ["WEFT_BROKER": "amqp://env-host/", "WEFT_CONCURRENCY": "5"], overrides: overrides)
        #expect(configuration.broker == "amqp://env-host/")
        #expect(configuration.concurrency == 7)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.store == "/tmp")
        #expect(configuration.foreman.workers == 2)
        #expect(configuration.queuePrefix == "weft")
    }

    @Test("Plain AMQP to a remote broker is allowed only explicitly: file, environment or flag")
    func allowPlainAMQP() throws {
        let path = try Self.file(#"{"broker": "amqp://rabbit.example/", "store": "/tmp"}"#)
        let plain = try FleetConfiguration.load(file: path, environment: [:])
        let plainAMQP = try plain.amqpConfiguration()
        #expect(!plain.allowPlainAMQP && !plainAMQP.options.allowsPlainTextToRemoteHosts)
        let fromEnvironment = try FleetConfiguration.load(file: path, environment: ["WEFT_ALLOW_PLAIN_AMQP": "1"])
        let environmentAMQP = try fromEnvironment.amqpConfiguration()
        #expect(environmentAMQP.options.allowsPlainTextToRemoteHosts)
        let allowing = try Self.file(#"{"broker": "amqp://rabbit.example/", "store": "/tmp", "allowPlainAMQP": true}"#)
        let fromFile = try FleetConfiguration.load(file: allowing, environment: [:])
        #expect(fromFile.allowPlainAMQP && fromFile.json["allowPlainAMQP"] == .bool(true))
        var overrides = FleetConfiguration.Overrides()
        overrides.allowPlainAMQP = true
        let flagged = try FleetConfiguration.load(file: path, environment: [:], overrides: overrides)
        #expect(flagged.allowPlainAMQP)
        #expect(throws: ConfigurationError.self) {
            try FleetConfiguration.load(file: path, environment: ["WEFT_ALLOW_PLAIN_AMQP": "sometimes"])
        }
        let wrongType = try Self.file(#"{"broker": "amqp://rabbit.example/", "store": "/tmp", "allowPlainAMQP": "yes"}"#)
        #expect(throws: ConfigurationError.self) { try FleetConfiguration.load(file: wrongType, environment: [:]) }
    }

    @Test("The settings written as JSON read back to the same settings (how the foreman hands them to workers)")
    func jsonRoundTrip() throws {
        var configuration = FleetConfiguration()
        configuration.broker = "amqps://rabbit.example/prod"
        configuration.store = "/tmp"
        configuration.queues = ["", "gpu"]
        configuration.concurrency = 12
        configuration.metricsPort = 9100
        configuration.retention = nil
        configuration.maxMessageSize = 1 << 20
        configuration.allowPlainAMQP = true
        configuration.foreman.maxWorkers = 9
        configuration.foreman.workerCommand = ["/usr/local/bin/my-worker"]
        let path = try Self.file(try configuration.json.jsonString(pretty: true))
        #expect(try FleetConfiguration.load(file: path, environment: [:]) == configuration)
    }

    @Test("A postgres:// store is checked as a URL, and its status directory is its own")
    func postgresStore() throws {
        let good = try FleetConfiguration.load(
            file: nil, environment: ["WEFT_STORE": "postgres://weft@db.internal/weft?sslmode=verify-full"], overrides: .init())
        #expect(good.storeIsPostgres)
        #expect(try good.postgresConfiguration().host == "db.internal")
        // This user's own (under XDG_RUNTIME_DIR or the home directory), never a shared /var/tmp name.
        #expect(good.statusDirectory == FleetConfiguration.privateDirectory(
            named: "fleet-weft", environment: ProcessInfo.processInfo.environment))
        #expect(good.statusDirectory != "/var/tmp/weft-fleet-weft")
        let path = try Self.file(#"{"store": "postgres://weft@db/weft", "statusDir": "/srv/weft/status"}"#)
        let filed = try FleetConfiguration.load(file: path, environment: [:], overrides: .init())
        #expect(filed.statusDirectory == "/srv/weft/status")
        #expect(try FleetConfiguration.load(file: try Self.file(filed.json.jsonString()), environment: [:], overrides: .init()).statusDir
            == "/srv/weft/status")
        do {
            _ = try FleetConfiguration.load(file: nil, environment: ["WEFT_STORE": "postgres://db/weft?sslmode=maybe"], overrides: .init())
            Issue.record("a bad sslmode was accepted")
        } catch {
            #expect("\(error)".contains("sslmode"))
        }
    }

    @Test("Every problem is reported at once, each naming its setting")
    func problems() throws {
        let path = try Self.file(
            #"{"concurency": 4, "logLevel": "loud", "metricsPort": "ninety", "foreman": {"minWorkers": 3, "maxWorkers": 2, "wrkers": 1}, "broker": "http://x"}"#)
        #expect(throws: ConfigurationError.self) { try FleetConfiguration.load(file: path, environment: [:]) }
        do {
            _ = try FleetConfiguration.load(file: path, environment: [:])
        } catch {
            let lines = error.problems.map(\.description)
            #expect(lines.contains("concurency: unknown setting (did you mean \"concurrency\"?)"), "\(lines)")
            #expect(lines.contains("foreman.wrkers: unknown setting (did you mean \"foreman.workers\"?)"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("logLevel: \"loud\" is not a log level (one of trace, debug, info") }, "\(lines)")
            #expect(lines.contains("metricsPort: expected an integer, got the string \"ninety\""), "\(lines)")
            #expect(lines.contains("foreman.maxWorkers: must be at least foreman.minWorkers (2 < 3)"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("broker: ") }, "\(lines)")
        }
    }

    @Test("A missing file, bad JSON and a bad environment value are clear")
    func badSources() throws {
        func problems(file: String?, environment: [String: String] = [:]) -> [String] {
            do {
                _ = try FleetConfiguration.load(file: file, environment: environment)
                return []
            } catch { return error.problems.map(\.description) }
        }
        #expect(problems(file: "/nonexistent/weft.json") == ["config file /nonexistent/weft.json: cannot be read (no such file, or no permission)"])
        let bad = try Self.file("{\"broker\": ")
        #expect(problems(file: bad).first?.hasPrefix("config file \(bad): is not valid JSON") == true)
        #expect(problems(file: nil, environment: ["WEFT_CONCURRENCY": "many", "WEFT_STORE": "/tmp"]) == ["WEFT_CONCURRENCY: expected an integer, got \"many\""])
    }

    @Test("weft config check prints the settings, or the problems with status 64")
    func configCheck() throws {
        let good = try Self.file(#"{"broker": "amqp://user:secret@rabbit.example:5673/prod", "store": "/tmp"}"#)
        let output = ConfigCommand.check(try FleetFlags.parse(["--config", good]))
        #expect(output.status == 0)
        #expect(output.standardOutput.contains("broker: amqp://rabbit.example:5673/prod"))
        #expect(!output.standardOutput.contains("secret"))

        let bad = ConfigCommand.check(try FleetFlags.parse(["--config", try Self.file(#"{"concurrency": 0, "store": "/tmp"}"#)]))
        #expect(bad.status == 64)
        #expect(bad.standardError.contains("concurrency: must be at least 1 (got 0)"))
    }
}

@Suite("Foreman scaling: hysteresis between the bounds")
struct ScalingPolicyTests {
    @Test("A growing backlog adds one worker after three samples, then waits out the cooldown")
    func scalesUpWithCooldown() {
        var policy = ScalingPolicy(minWorkers: 1, maxWorkers: 3)
        #expect(policy.observe(depth: 10, workers: 1) == nil)  // no trend yet
        #expect(policy.observe(depth: 20, workers: 1) == nil)
        #expect(policy.observe(depth: 30, workers: 1) == nil)
        #expect(policy.observe(depth: 40, workers: 1)?.workers == 2)
        // Still growing, but within the cooldown: nothing.
        for depth in [50, 60, 70, 80, 90] { #expect(policy.observe(depth: depth, workers: 2) == nil) }
        #expect(policy.observe(depth: 100, workers: 2)?.workers == 3)
        // At the maximum: nothing, however long the backlog.
        for depth in 101...120 { #expect(policy.observe(depth: depth, workers: 3) == nil) }
    }

    @Test("A shrinking backlog adds nobody; empty queues remove one worker after twelve samples, not below the minimum")
    func scalesDown() {
        var policy = ScalingPolicy(minWorkers: 1, maxWorkers: 4)
        for depth in stride(from: 100, through: 10, by: -10) { #expect(policy.observe(depth: depth, workers: 2) == nil) }
        for _ in 0..<11 { #expect(policy.observe(depth: 0, workers: 2) == nil) }
        #expect(policy.observe(depth: 0, workers: 2)?.workers == 1)
        for _ in 0..<30 { #expect(policy.observe(depth: 0, workers: 1) == nil) }
    }

    @Test("Empty queues with jobs in hand are not idle: a busy fleet whose workers prefetched everything keeps its workers")
    func busyWithEmptyQueues() {
        var policy = ScalingPolicy(minWorkers: 1, maxWorkers: 4)
        for _ in 0..<50 { #expect(policy.observe(depth: 0, inHand: 64, workers: 2) == nil) }
    }

    @Test("Alternating load does not thrash")
    func noThrash() {
        var policy = ScalingPolicy(minWorkers: 1, maxWorkers: 4)
        var changes = 0
        for step in 0..<200 {
            if policy.observe(depth: step % 4 < 2 ? 50 : 0, workers: 2) != nil { changes += 1 }
        }
        #expect(changes == 0)
    }
}
