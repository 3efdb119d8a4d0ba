import Foundation
import Testing
import Weft
import WeftCLI
import WeftFleet
import WeftLMDB
import WeftSamples

@Suite("The weft command-line tool")
struct CLITests {
    /// The committed sample blueprints, next to this package's sources.
    static let blueprints = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Samples/blueprints")

    static func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("The committed sample blueprints are exactly what the Swift samples build")
    func committedBlueprintsMatch() throws {
        for sample in SampleCatalog.samples {
            let path = Self.blueprints.appendingPathComponent("\(sample.name).json").path
            #expect(try BlueprintFile.load(path) == sample.workflow.blueprint, "regenerate with `swift run weft samples --export Samples/blueprints`")
        }
    }

    @Test("weft run runs a blueprint file against the sample registry")
    func runSample() async throws {
        let path = Self.blueprints.appendingPathComponent("order-pipeline.json").path
        let output = await RunCommand.execute(path: path, input: try OrderPipeline.sampleInput.jsonString(), verbose: true)
        #expect(output.status == 0)
        #expect(output.standardOutput.hasPrefix("status: completed\n"))
        #expect(output.standardOutput.contains("\"shipped\" : true"))
        #expect(output.standardOutput.contains("review: skipped"))
    }

    @Test("weft run answers a waiting node from --signal, and refuses to hang on one it cannot answer")
    func runWithSignals() async throws {
        let path = Self.blueprints.appendingPathComponent("expense-review.json").path
        let input = try ExpenseReview.sampleInput.jsonString()
        let approved = await RunCommand.execute(path: path, input: input, verbose: true, signals: [#"approval=approve:{"approver":"ada"}"#])
        #expect(approved.status == 0)
        #expect(approved.standardOutput.contains("\"settled\" : true"))
        #expect(approved.standardOutput.contains("notify-rejected: skipped"))
        let rejected = await RunCommand.execute(path: path, input: input, signals: ["approval=reject"])
        #expect(rejected.standardOutput.contains("\"rejected\" : true"))
        let unanswered = await RunCommand.execute(path: path, input: input)
        #expect(unanswered.status == 1)
        #expect(unanswered.standardError.contains("node approval waits for a signal"))
        let malformed = await RunCommand.execute(path: path, input: input, signals: ["approval"])
        #expect(malformed.standardError.contains("write node=action"))
    }

    @Test("weft run --suspend-to writes a waiting run to a file; weft resume finishes it with a signal")
    func suspendAndResume() async throws {
        let path = Self.blueprints.appendingPathComponent("expense-review.json").path
        let snapshot = FileManager.default.temporaryDirectory.appendingPathComponent("weft-snapshot-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: snapshot) }
        let suspended = await RunCommand.execute(
            path: path, input: try ExpenseReview.sampleInput.jsonString(), suspendTo: snapshot)
        #expect(suspended.status == 0, "\(suspended.standardError)")
        #expect(suspended.standardOutput.contains("suspended at node approval"))
        let resumed = await ResumeCommand.execute(path: snapshot, verbose: true, signals: ["approval=reject"])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        #expect(resumed.standardOutput.contains("\"rejected\" : true"))
        #expect(resumed.standardOutput.contains("receive: completed"))
        let missing = await ResumeCommand.execute(path: snapshot + ".missing")
        #expect(missing.standardError.contains("no such file"))
    }

    @Test("weft run reports a failed run with exit status 1 and the failing node")
    func runFails() async throws {
        let path = Self.blueprints.appendingPathComponent("order-pipeline.json").path
        let output = await RunCommand.execute(path: path, input: #"{"orderId": "E", "customer": "x@example.com", "lines": []}"#)
        #expect(output.status == 1)
        #expect(output.standardError.contains("node \"validate\" failed on attempt 1: order E has no lines"))
    }

    @Test("A missing file, bad JSON, a non-blueprint and bad --input each give one clear line")
    func oneLineErrors() async throws {
        let missing = await RunCommand.execute(path: "/nonexistent/flow.json", input: "{}")
        #expect(missing == CommandOutput(standardError: "weft: error: cannot read blueprint '/nonexistent/flow.json': no such file\n", status: 1))

        let badJSON = try Self.temporaryFile("{\"id\": ")
        let bad = ValidateCommand.execute(path: badJSON)
        #expect(bad.status == 1)
        #expect(bad.standardError.hasPrefix("weft: error: '\(badJSON)' is not valid JSON"))
        #expect(bad.standardError.filter { $0 == "\n" }.count == 1)

        let notBlueprint = try Self.temporaryFile(#"{"id": "x", "nodes": [{"id": "a"}]}"#)
        let wrongShape = ValidateCommand.execute(path: notBlueprint)
        #expect(wrongShape.standardError == "weft: error: '\(notBlueprint)' is not a blueprint: missing key \"uses\" at \"nodes[0]\"\n")

        let sample = Self.blueprints.appendingPathComponent("order-pipeline.json").path
        let badInput = await RunCommand.execute(path: sample, input: "{oops")
        #expect(badInput.status == 1)
        #expect(badInput.standardError.hasPrefix("weft: error: --input is not valid JSON"))
    }

    @Test("weft validate names unknown node implementations with their code")
    func validateUnknownImplementation() async throws {
        let path = try Self.temporaryFile(#"{"id": "x", "nodes": [{"id": "a", "uses": "no.such.code"}]}"#)
        let output = ValidateCommand.execute(path: path)
        #expect(output.status == 1)
        #expect(output.standardError == "\(path): missing_implementation: Node \"a\" uses \"no.such.code\", which is not registered\n")
        let run = await RunCommand.execute(path: path, input: "null")
        #expect(run.status == 1)
        #expect(run.standardError.contains("no.such.code"))
        #expect(ValidateCommand.execute(path: Self.blueprints.appendingPathComponent("document-processing.json").path).status == 0)
    }

    @Test("weft graph draws Mermaid and DOT")
    func graph() {
        let path = Self.blueprints.appendingPathComponent("document-processing.json").path
        let mermaid = GraphCommand.execute(path: path, format: .mermaid)
        #expect(mermaid.standardOutput.hasPrefix("flowchart TD\n"))
        #expect(mermaid.standardOutput.contains("-->|\"invoice\"|"))
        let dot = GraphCommand.execute(path: path, format: .dot)
        #expect(dot.standardOutput.hasPrefix("digraph \"document-processing\" {"))
    }

    @Test("weft samples lists the samples and exports their blueprints as loadable files")
    func samples() throws {
        let listing = SamplesCommand.execute(export: nil)
        #expect(listing.status == 0)
        #expect(listing.standardOutput.contains("order-pipeline"))
        #expect(listing.standardOutput.contains("documents.fetch"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-export-\(UUID().uuidString)").path
        let export = SamplesCommand.execute(export: folder)
        #expect(export.status == 0)
        for sample in SampleCatalog.samples {
            #expect(try BlueprintFile.load("\(folder)/\(sample.name).json") == sample.workflow.blueprint)
        }
    }
}

@Suite("weft store: inspecting an LMDB state store")
struct StoreCommandTests {
    @Test("stats and runs describe the runs a fleet left in the store, finished and unfinished")
    func inspect() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sample = try #require(SampleCatalog.sample(named: "order-pipeline"))
        let store = try LMDBStateStore(LMDBConfiguration(path: path))
        let backends = WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
        let fleet = try await InProcessFleet.start(
            registry: sample.workflow.registry, blueprints: [sample.workflow.blueprint], backends: backends)
        for _ in 0..<3 { #expect(try await fleet.run(sample.workflow.blueprint, input: sample.input).status == .completed) }
        await fleet.shutdown()
        // A run that no worker takes: it stays unfinished.
        let client = try DistributedRuntime(registry: sample.workflow.registry, backends: backends)
        let waiting = try await client.start(sample.workflow.blueprint, input: sample.input)
        await client.shutdown()
        store.close()

        let stats = await StoreCommand.stats(path: path)
        #expect(stats.status == 0, "\(stats.standardError)")
        #expect(stats.standardOutput.contains("runs: 4 (1 unfinished, 3 finished)"))
        #expect(stats.standardOutput.contains("oldest unfinished run: \(waiting.runID) (order-pipeline@"))
        #expect(stats.standardOutput.contains("format: 1\n"))

        let all = await StoreCommand.runs(path: path, unfinishedOnly: false, limit: 100)
        #expect(all.standardOutput.components(separatedBy: " completed ").count - 1 == 3)
        #expect(all.standardOutput.hasSuffix("4 runs\n"))
        let unfinished = await StoreCommand.runs(path: path, unfinishedOnly: true, limit: 100)
        #expect(unfinished.standardOutput.contains(waiting.runID) && unfinished.standardOutput.contains(" running "))
        #expect(unfinished.standardOutput.hasSuffix("1 run\n"))
    }

    @Test("Ids from a store are printed with their control characters escaped: a hostile one cannot clear the screen or forge a line")
    func hostileIDs() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sample = try #require(SampleCatalog.sample(named: "order-pipeline"))
        let store = try LMDBStateStore(LMDBConfiguration(path: path))
        let backends = WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
        let client = try DistributedRuntime(registry: sample.workflow.registry, backends: backends)
        let waiting = try await client.start(sample.workflow.blueprint, input: sample.input)
        await client.shutdown()
        // A store written before ids were checked, or by someone else: a run id with escape codes
        // and a newline (the API refuses such an id now).
        let meta = try #require(try await store.coordinationStore.value(at: StoreKey(run: waiting.runID, name: "m")))
        let hostile = "evil\u{1B}[2J\nFAKE: all runs completed"
        _ = try await store.coordinationStore.setIfAbsent(StoreKey(run: hostile, name: "m"), meta, fence: nil)
        store.close()

        let listed = await StoreCommand.runs(path: path, unfinishedOnly: false, limit: 10)
        #expect(listed.status == 0)
        #expect(!listed.standardOutput.contains("\u{1B}"))
        #expect(listed.standardOutput.contains("evil\\u{1B}[2J\\u{A}FAKE"))
        #expect(!listed.standardOutput.split(separator: "\n").contains { $0.hasPrefix("FAKE") })
    }

    @Test("A directory without a store, and a foreign file, give one clear line")
    func badPaths() async throws {
        let missing = await StoreCommand.stats(path: "/nonexistent/weft-store")
        #expect(missing == CommandOutput(standardError: "weft: error: no state store at '/nonexistent/weft-store' (no data.mdb there)\n", status: 1))

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try String(repeating: "not an LMDB file ", count: 1000).write(toFile: path + "/data.mdb", atomically: true, encoding: .utf8)
        let foreign = await StoreCommand.runs(path: path, unfinishedOnly: false, limit: 10)
        #expect(foreign.status == 1)
        #expect(foreign.standardError.hasPrefix("weft: error: LMDB invalid_file: "), "\(foreign.standardError)")
    }
}
