import Testing
import Weft
import WeftTesting

@Suite("Joins")
struct JoinTests {
    @Test("An `all` join after a fan-out of 3 fires once, with a map of predecessor outputs")
    func allJoinFiresOnceWithMap() async throws {
        let joins = Counter()
        let workflow = Workflow("fan") {
            Node("split", echo)
            Node("x") { context in JSONValue(context.input.intValue! + 1) }
            Node("y") { context in JSONValue(context.input.intValue! + 2) }
            Node("z") { context in JSONValue(context.input.intValue! + 3) }
            Node("join") { context in joins.increment(); return context.input }
            Edge("split", to: "x")
            Edge("split", to: "y")
            Edge("split", to: "z")
            Edge("x", to: "join")
            Edge("y", to: "join")
            Edge("z", to: "join")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: 10)
        #expect(result.output == ["x": 11, "y": 12, "z": 13])
        #expect(joins.current == 1)
    }

    @Test("An `all` join after exclusive branches fires once with the one taken branch's output")
    func allJoinAfterExclusiveBranches() async throws {
        let joins = Counter()
        let workflow = Workflow("exclusive-join") {
            Node("decide", echo)
            Node("left", constant("from left"))
            Node("right", constant("from right"))
            Node("join") { context in joins.increment(); return context.input }
            Edge("decide", to: "left", when: "output == 'L'")
            Edge("decide", to: "right", when: "output == 'R'")
            Edge("left", to: "join")
            Edge("right", to: "join")
        }
        let runtime = LocalRuntime(workflow)
        #expect(try await runtime.run(workflow, input: "L").output == "from left")
        #expect(try await runtime.run(workflow, input: "R").output == "from right")
        #expect(joins.current == 2)
    }

    @Test("An `all` join whose every incoming edge is skipped is skipped, and so is what follows it")
    func allJoinAllSkipped() async throws {
        let workflow = Workflow("all-skipped") {
            Node("decide", echo)
            Node("a", constant("a"))
            Node("b", constant("b"))
            Node("join", echo)
            Node("after", echo)
            Node("elsewhere", constant("elsewhere"))
            Edge("decide", to: "a", when: "output == 'nope'")
            Edge("decide", to: "b", when: "output == 'never'")
            Edge("decide", to: "elsewhere")
            Edge("a", to: "join")
            Edge("b", to: "join")
            Edge("join", to: "after")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: "x")
        #expect(result.status == .completed)
        #expect(result.output == "elsewhere")
        #expect(result[node: "join"]?.status == .skipped)
        #expect(result[node: "after"]?.status == .skipped)
    }

    @Test("An `any` join fires once, on the first arrival, with 3+ predecessors")
    func anyJoinFiresOnce() async throws {
        let joins = Counter()
        let slow = Gate()
        let workflow = Workflow("race") {
            Node("start", echo)
            Node("fast", constant("fast"))
            Node("slow1") { _ in await slow.wait(); return "slow1" }
            Node("slow2") { _ in await slow.wait(); return "slow2" }
            Node("first") { context in joins.increment(); slow.open(); return context.input }.join(.any)
            Edge("start", to: "fast")
            Edge("start", to: "slow1")
            Edge("start", to: "slow2")
            Edge("fast", to: "first")
            Edge("slow1", to: "first")
            Edge("slow2", to: "first")
        }
        // The slow nodes hold their permits until the join runs, so allow more than two at once.
        let runtime = LocalRuntime(workflow, configuration: .init(maxConcurrentNodes: 4))
        let result = try await runtime.run(workflow)
        #expect(result.status == .completed)
        #expect(result[node: "first"]?.output == "fast")
        #expect(result[node: "slow1"]?.status == .completed)
        #expect(result[node: "slow2"]?.status == .completed)
        #expect(joins.current == 1)
    }

    @Test("An `any` join after exclusive branches fires on the taken one, and is skipped if none is taken")
    func anyJoinAfterExclusiveBranches() async throws {
        let workflow = Workflow("any-exclusive") {
            Node("decide", echo)
            Node("left", constant("L"))
            Node("right", constant("R"))
            Node("join", echo).join(.any)
            Node("other", constant("other"))
            Edge("decide", to: "left", when: "output == 'L'")
            Edge("decide", to: "right", when: "output == 'R'")
            Edge("decide", to: "other", when: "output == 'O'")
            Edge("left", to: "join")
            Edge("right", to: "join")
        }
        let runtime = LocalRuntime(workflow)
        #expect(try await runtime.run(workflow, input: "R").output == "R")
        let neither = try await runtime.run(workflow, input: "O")
        #expect(neither.output == "other")
        #expect(neither[node: "join"]?.status == .skipped)
    }

    @Test("A diamond with mixed taken and skipped edges joins exactly once, at the right time")
    func diamondWithPartialSkip() async throws {
        let joins = Counter()
        let workflow = Workflow("diamond") {
            Node("a", echo)
            Node("b", constant("b"))
            Node("c", constant("c"))
            Node("d", constant("d"))
            Node("join") { context in joins.increment(); return context.input }
            Edge("a", to: "b")
            Edge("a", to: "c", when: "output > 5")
            Edge("a", to: "d")
            Edge("b", to: "join")
            Edge("c", to: "join")
            Edge("d", to: "join")
        }
        let runtime = LocalRuntime(workflow)
        #expect(try await runtime.run(workflow, input: 1).output == ["b": "b", "d": "d"])
        #expect(try await runtime.run(workflow, input: 9).output == ["b": "b", "c": "c", "d": "d"])
        #expect(joins.current == 2)
    }

    @Test("`inputs` builds a join's input from node outputs, the run input and the context")
    func inputsAtJoin() async throws {
        let workflow = Workflow("inputs") {
            Node("price") { _ in ["amount": 120] }
            Node("tax") { context in context.context.set("rate", 0.2); return ["rate": 0.2] }
            Node("total", echo).inputs(.map([
                "amount": "nodes.price.amount", "rate": .context("rate"), "customer": "input.customer",
            ]))
            Edge("price", to: "total")
            Edge("tax", to: "total")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["customer": "c-9"])
        #expect(result.output == ["amount": 120, "rate": 0.2, "customer": "c-9"])
    }
}

@Suite("Wide joins")
struct WideJoinTests {
    @Test("A join with many incoming edges gets a map of exactly the taken branches")
    func wideJoinWithSkippedBranches() async throws {
        let workflow = Workflow("wide") {
            Node("split", echo)
            for index in 0..<20 {
                Node("b\(index)") { _ in JSONValue(index) }
                Edge("split", to: "b\(index)", when: "output.skip != \(index)")
                Edge("b\(index)", to: "join")
            }
            Node("join", echo)
        }
        let runtime = LocalRuntime(workflow)
        let all = try await runtime.run(workflow, input: ["skip": -1])
        #expect(all.output?.objectValue?.count == 20)
        #expect(all.output?["b7"] == 7)
        let some = try await runtime.run(workflow, input: ["skip": 7])
        #expect(some.output?.objectValue?.count == 19)
        #expect(some.output?["b7"] == nil)
        #expect(some.output?["b8"] == 8)
    }
}
