import Testing
@testable import Weft

/// The rules for ids (``Identifier``), where they are checked (validation, a run's start, a
/// message's decoding), and the one failure both runtimes give for sub-workflows nested too
/// deep under long ids.
@Suite("Ids: length and characters checked where they come in")
struct IdentifierTests {
    @Test("An id is 1 to 200 bytes with no control, separator or bidirectional character; a read-back run id may be 400")
    func rules() {
        #expect(Identifier.problem("order-2026-12-07", as: .run) == nil)
        #expect(Identifier.problem("ünïcødé-运行-✓", as: .node) == nil)
        #expect(Identifier.problem(String(repeating: "r", count: 200), as: .run) == nil)
        #expect(Identifier.problem("", as: .node)?.contains("empty") == true)
        #expect(Identifier.problem(String(repeating: "r", count: 201), as: .run)?.contains("201 bytes, more than 200") == true)
        #expect(Identifier.problem(String(repeating: "r", count: 201), as: .run, nested: true) == nil)
        #expect(Identifier.problem(String(repeating: "r", count: 401), as: .run, nested: true)?.contains("more than 400") == true)
        // Multi-byte characters count as their bytes.
        #expect(Identifier.problem(String(repeating: "é", count: 101), as: .blueprint)?.contains("202 bytes") == true)
        for bad in ["a\u{0}b", "a\u{1B}[31mb", "a\nb", "a\u{7F}", "a\u{85}", "a\u{2028}", "a\u{202E}b", "a\u{2066}"] {
            let problem = Identifier.problem(bad, as: .run)
            #expect(problem?.contains("control, separator or bidirectional") == true, "\(bad.debugDescription)")
            // The message quotes the id escaped: it prints on one line.
            #expect(problem.map(PrintableText.isPrintable) == true)
        }
    }

    @Test("Validation reports a node id, blueprint id or version that breaks the rules, with every other problem")
    func validation() {
        let blueprint = Blueprint(
            id: "bad\u{1B}[2J", version: "",
            nodes: [NodeDefinition(id: String(repeating: "n", count: 300), uses: "x"), NodeDefinition(id: "ok\u{0}", uses: "x")])
        let issues = blueprint.validate().issues.filter { $0.code == .invalidIdentifier }
        #expect(issues.count == 4)
        #expect(issues.allSatisfy { PrintableText.isPrintable($0.message) })
        #expect(issues.contains { $0.message.contains("blueprint version is empty") })
        #expect(issues.contains { $0.message.contains("300 bytes") })
    }

    static let chain = Workflow("ids") {
        Node("a") { _ in 1 }
    }

    @Test("A run id that breaks the rules is refused at start, embedded and on a fleet, with the same code")
    func runIDAtStart() async throws {
        for runID in ["with\u{0}nul", String(repeating: "r", count: 201), ""] {
            let local = LocalRuntime(Self.chain)
            await #expect { try await local.run(Self.chain.blueprint, options: RunOptions(runID: runID)) } throws: {
                ($0 as? WeftError)?.code == .invalidIdentifier
            }
            #expect(throws: WeftError.self) { try local.start(Self.chain.blueprint, options: RunOptions(runID: runID)) }
            // The plan runner, which cannot throw, fails the run with the same code.
            let failed = await local.run(try local.plan(for: Self.chain.blueprint), options: RunOptions(runID: runID))
            #expect(failed.status == .failed && failed.failure?.cause.code == WeftError.Code.invalidIdentifier.rawValue)

            let fleet = try ManualFleet([Self.chain])
            await #expect { try await fleet.client.start(Self.chain.blueprint, options: RunOptions(runID: runID)) } throws: {
                ($0 as? WeftError)?.code == .invalidIdentifier
            }
            #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
            await fleet.shutdown()
        }
    }

    @Test("A sub-workflow whose child's run id would pass 400 bytes fails its node the same way on both runtimes")
    func nestingTooDeep() async throws {
        let child = Workflow("child", version: "1") { Node("leaf") { _ in 1 } }
        let node = String(repeating: "n", count: 200)
        let parent = Workflow("parent") { Node.subworkflow(node, child) }
        let runID = String(repeating: "r", count: 200)

        let local = try await LocalRuntime(parent).run(parent.blueprint, options: RunOptions(runID: runID))
        let fleet = try ManualFleet([parent])
        let handle = try await fleet.client.start(parent.blueprint, options: RunOptions(runID: runID))
        try await fleet.drain()
        let distributed = try await handle.result()
        await fleet.shutdown()

        for result in [local, distributed] {
            #expect(result.status == .failed)
            #expect(result.failure?.nodeID == node)
            #expect(result.failure?.cause.code == WeftError.Code.invalidIdentifier.rawValue)
            #expect(result.failure?.cause.message.contains("nested too deep") == true)
        }
        #expect(local.failure == distributed.failure)
        // A short run id nests the same child without trouble.
        let short = try await LocalRuntime(parent).run(parent.blueprint, options: RunOptions(runID: "short"))
        #expect(short.status == .completed, "\(String(describing: short.failure))")
    }
}
