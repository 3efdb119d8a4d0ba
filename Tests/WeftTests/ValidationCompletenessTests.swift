import Testing
@testable import Weft

/// Issue 23 part 8: validation reports every problem at once, and merging registries that
/// give one key different code is an error naming the key.
@Suite("Validation reports everything; registries do not silently overwrite")
struct ValidationCompletenessTests {
    @Test("An edge to an unknown node does not hide a cycle or an unreachable island elsewhere")
    func unknownEdgeHidesNothing() {
        var registry = NodeRegistry()
        registry.register("n") { context in context.input }
        let blueprint = Blueprint(
            id: "many-problems",
            nodes: ["start", "x", "y", "island", "after-island"].map { NodeDefinition(id: $0, uses: "n") },
            edges: [
                EdgeDefinition(source: "start", target: "ghost"),
                EdgeDefinition(source: "x", target: "y"), EdgeDefinition(source: "y", target: "x"),
                EdgeDefinition(source: "island", target: "after-island"), EdgeDefinition(source: "after-island", target: "island"),
            ])
        let report = blueprint.validate(against: registry)
        #expect(Set(report.codes) == [.unknownEdgeNode, .cycle, .unreachableNode], "\(report.issues.map(\.message))")
        let unreachable = Set(report.issues.filter { $0.code == .unreachableNode }.compactMap(\.nodeID))
        #expect(unreachable == ["x", "y", "island", "after-island"])
    }

    @Test("A duplicate node id does not hide a cycle")
    func duplicateHidesNothing() {
        var registry = NodeRegistry()
        registry.register("n") { context in context.input }
        let blueprint = Blueprint(
            id: "dup",
            nodes: ["a", "a", "b", "c"].map { NodeDefinition(id: $0, uses: "n") },
            edges: [EdgeDefinition(source: "a", target: "b"), EdgeDefinition(source: "b", target: "c"), EdgeDefinition(source: "c", target: "b")])
        #expect(Set(blueprint.validate(against: registry).codes).isSuperset(of: [.duplicateNodeID, .cycle]))
    }

    @Test("Merging registries that give one key different code is an error naming the key; the same code twice is not")
    func conflictingRegistries() async throws {
        let first = Workflow("first") { Node("step") { _ in "first" } }
        let second = Workflow("second") { Node("step") { _ in "second" } }
        var merged = first.registry
        merged.merge(first.registry)  // the same code again: no conflict
        #expect(merged.conflicts.isEmpty)
        merged.merge(second.registry)
        #expect(merged.conflicts == ["node code \"step\""])
        let report = first.blueprint.validate(against: merged)
        #expect(report.codes == [.conflictingRegistration])
        #expect(report.issues.first?.message.contains("node code \"step\"") == true)
        // Running with such a registry fails, naming the key, instead of running either code.
        let error = await #expect(throws: WeftError.self) {
            try await LocalRuntime(registry: merged).run(first.blueprint)
        }
        #expect(error?.message.contains("\"step\"") == true)
        // Namespacing one of them keeps both.
        var namespaced = first.registry
        namespaced.merge(second.namespaced("second").registry)
        #expect(namespaced.conflicts.isEmpty)
    }

    @Test("A loop body whose node shares an outer node's id but not its code is a conflict")
    func loopBodyConflict() {
        let workflow = Workflow("outer") {
            Node("step") { _ in "outer" }
            Node.loop("again", while: "iteration < 2") { Node("step") { _ in "inner" } }
            Edge("step", to: "again")
        }
        #expect(workflow.registry.conflicts == ["node code \"step\""])
        #expect(workflow.validate().codes.contains(.conflictingRegistration))
    }

    @Test("Predicates, transforms and blueprints conflict too")
    func otherConflicts() {
        var a = NodeRegistry()
        a.registerPredicate("big") { _ in true }
        a.registerTransform("shape") { $0.output }
        a.register(Blueprint(id: "child", nodes: [NodeDefinition(id: "x", uses: "n")]))
        var b = NodeRegistry()
        b.registerPredicate("big") { _ in false }
        b.registerTransform("shape") { _ in .null }
        b.register(Blueprint(id: "child", nodes: [NodeDefinition(id: "y", uses: "n")]))
        a.merge(b)
        #expect(a.conflicts == ["blueprint \"child\" v1", "predicate \"big\"", "transform \"shape\""])
    }
}
