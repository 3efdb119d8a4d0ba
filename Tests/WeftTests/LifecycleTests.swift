import Testing
import Weft
import WeftTesting

struct Order: Codable, Sendable, Equatable {
    var id: String
    var total: Double
}

struct Receipt: Codable, Sendable, Equatable {
    var orderID: String
    var charged: Double
}

/// A node that records every phase it goes through.
struct RecordingNode: WorkflowNode {
    typealias Prepared = Order
    let trail: Trail
    let failures: Int
    let calls = Counter()
    var fallsBack = false

    func prepare(_ input: Order, context: NodeContext) async throws -> Order {
        trail.add("prepare")
        return Order(id: input.id, total: input.total * 2)
    }

    func execute(_ prepared: Order, context: NodeContext) async throws -> Receipt {
        trail.add("execute \(context.attempt)")
        if calls.increment() <= failures { throw NodeError.transient("not yet") }
        return Receipt(orderID: prepared.id, charged: prepared.total)
    }

    func finish(_ prepared: Order, output: Receipt, context: NodeContext) async throws -> String? {
        trail.add("finish")
        return output.charged > 100 ? "big" : nil
    }

    func fallback(_ prepared: Order, failure: NodeFailure, context: NodeContext) async throws -> Receipt {
        trail.add("fallback")
        guard fallsBack else { throw failure }
        return Receipt(orderID: prepared.id, charged: 0)
    }

    func cleanup(context: NodeContext) async {
        trail.add("cleanup")
    }
}

@Suite("Node lifecycle, middleware, concurrency and cancellation")
struct LifecycleTests {
    @Test("prepare runs once, execute is retried, finish picks the action, cleanup runs last")
    func lifecycleOrder() async throws {
        let trail = Trail()
        let workflow = Workflow("lifecycle") {
            Node("charge", RecordingNode(trail: trail, failures: 2)).retry(maxAttempts: 3, backoff: .none)
            Node("big", echo)
            Node("small", echo)
            Edge("charge", to: "big", action: "big")
            Edge("charge", to: "small")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["id": "o-1", "total": 60])
        #expect(trail.all == ["prepare", "execute 1", "execute 2", "execute 3", "finish", "cleanup"])
        #expect(try result.output(as: Receipt.self) == Receipt(orderID: "o-1", charged: 120))
        #expect(result[node: "small"]?.status == .skipped)
    }

    @Test("When attempts are exhausted the node's fallback hook stands in for execute, then finish and cleanup run")
    func lifecycleFallback() async throws {
        let trail = Trail()
        var node = RecordingNode(trail: trail, failures: 10)
        node.fallsBack = true
        let workflow = Workflow("lifecycle-fallback") {
            Node("charge", node).retry(maxAttempts: 2, backoff: .none)
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["id": "o-2", "total": 10])
        #expect(trail.all == ["prepare", "execute 1", "execute 2", "fallback", "finish", "cleanup"])
        #expect(try result.output(as: Receipt.self) == Receipt(orderID: "o-2", charged: 0))
        #expect(result[node: "charge"]?.usedFallback == true)
    }

    @Test("Without a fallback the run fails and cleanup still runs once")
    func lifecycleFailureCleansUp() async throws {
        let trail = Trail()
        let workflow = Workflow("lifecycle-fails") {
            Node("charge", RecordingNode(trail: trail, failures: 10))
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["id": "o-3", "total": 10])
        #expect(result.status == .failed)
        #expect(result.failure?.cause.message == "not yet")
        #expect(trail.all == ["prepare", "execute 1", "fallback", "cleanup"])
    }

    @Test("A typed node rejects an input of the wrong shape with a clear, non-retryable error")
    func wrongInputType() async throws {
        let trail = Trail()
        let workflow = Workflow("typed") {
            Node("charge", RecordingNode(trail: trail, failures: 0)).retry(maxAttempts: 3, backoff: .none)
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["id": "o-4", "total": "a lot"])
        #expect(result.status == .failed)
        #expect(result.failure?.cause.code == "invalid_input")
        #expect(result.failure?.cause.message.contains("total") == true)
        #expect(result[node: "charge"]?.attempts == 1)
    }

    @Test("A typed closure decodes its input and encodes its output")
    func typedClosure() async throws {
        let workflow = Workflow("typed-closure") {
            Node("charge") { (order: Order, _: NodeContext) in Receipt(orderID: order.id, charged: order.total) }
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: ["id": "o-5", "total": 9.5])
        #expect(try result.output(as: Receipt.self) == Receipt(orderID: "o-5", charged: 9.5))
    }

    @Test("Middleware runs in the documented order: first listed is outermost")
    func middlewareOrder() async throws {
        let trail = Trail()
        let workflow = Workflow("middleware") {
            Node("n") { _ in trail.add("node"); return "done" }
        }
        let configuration = LocalRuntime.Configuration(middleware: [
            .before { _ in trail.add("A before") },
            .around { context, next in
                trail.add("B before")
                let output = try await next(context)
                trail.add("B after")
                return NodeOutput(.string("wrapped " + (output.value.stringValue ?? "")))
            },
            .after { _, result in trail.add("C after \((try? result.get())?.value.stringValue ?? "error")") },
        ])
        let result = try await LocalRuntime(workflow, configuration: configuration).run(workflow)
        #expect(trail.all == ["A before", "B before", "node", "C after done", "B after"])
        #expect(result.output == "wrapped done")
    }

    @Test("A middleware that throws fails the attempt, which is retried")
    func middlewareThrows() async throws {
        let calls = Counter()
        let workflow = Workflow("middleware-throws") {
            Node("n") { _ in "ran" }.retry(maxAttempts: 2, backoff: .none)
        }
        let configuration = LocalRuntime.Configuration(middleware: [
            .before { _ in if calls.increment() == 1 { throw NodeError.transient("not authorised yet") } }
        ])
        let result = try await LocalRuntime(workflow, configuration: configuration).run(workflow)
        #expect(result.output == "ran")
        #expect(result[node: "n"]?.attempts == 2)
    }

    @Test("No more than maxConcurrentNodes attempts run at once")
    func concurrencyCap() async throws {
        let gauge = Gauge()
        let workflow = Workflow("cap") {
            Node("split", echo)
            for index in 0..<12 {
                Node("work\(index)") { _ in
                    gauge.enter()
                    defer { gauge.leave() }
                    for _ in 0..<20 { await Task.yield() }
                    return nil
                }
                Edge("split", to: "work\(index)")
            }
        }
        let runtime = LocalRuntime(workflow, configuration: .init(maxConcurrentNodes: 3))
        let results = await withTaskGroup(of: RunStatus.self) { group in
            for _ in 0..<4 { group.addTask { (try? await runtime.run(workflow).status) ?? .failed } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == [.completed, .completed, .completed, .completed])
        #expect(gauge.peak <= 3)
        #expect(gauge.peak >= 2)
    }

    @Test("Cancelling a run stops new work, cancels running attempts and ends it as cancelled")
    func cancellation() async throws {
        let started = Gate()
        let cancelled = Counter()
        let afterRan = Counter()
        let workflow = Workflow("cancel") {
            Node("long") { _ in
                started.open()
                do { try await untilCancelled() } catch { cancelled.increment(); throw error }
                return nil
            }
            Node("after") { _ in afterRan.increment(); return nil }
            Edge("long", to: "after")
        }
        let handle = try LocalRuntime(workflow).start(workflow.blueprint)
        await started.wait()
        handle.cancel()
        let result = await handle.result()
        #expect(result.status == .cancelled)
        #expect(cancelled.current == 1)
        #expect(afterRan.current == 0)
        #expect(result[node: "after"]?.status == .notRun)
    }

    @Test("Cancelling during a retry's backoff ends the run at once")
    func cancelDuringBackoff() async throws {
        let clock = ManualClock()
        let workflow = Workflow("cancel-backoff") {
            Node("flaky") { _ in throw NodeError.transient("again") }.retry(maxAttempts: 5, backoff: .fixed(.seconds(60)))
        }
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint)
        await clock.waitForSleepers(1)
        handle.cancel()
        let result = await handle.result()
        #expect(result.status == .cancelled)
        #expect(result[node: "flaky"]?.attempts == 1)
    }

    @Test("Context writes of a failed attempt are discarded; a successful attempt's are committed together")
    func contextPatchSemantics() async throws {
        let calls = Counter()
        let workflow = Workflow("context") {
            Node("writer") { context in
                let attempt = calls.increment()
                context.context.set("attempt-\(attempt)", true)
                var patch = ContextPatch()
                patch.set("a", 1)
                patch.set("b", 2)
                patch.remove("seed")
                context.context.apply(patch)
                #expect(context.context.value(forKey: "a") == 1)
                if attempt == 1 { throw NodeError.transient("retry me") }
                return nil
            }.retry(maxAttempts: 2, backoff: .none)
            Node("reader") { context in
                .int(Int64(try context.context.get(ContextKey<Int>("b")) ?? -1))
            }
            Edge("writer", to: "reader")
        }
        let result = try await LocalRuntime(workflow).run(workflow, options: RunOptions(context: ["seed": "x"]))
        #expect(result.output == 2)
        #expect(result.context == ["attempt-2": true, "a": 1, "b": 2])
    }

    @Test("Shared dependencies reach node code")
    func dependencies() async throws {
        struct Greeter: Sendable { let greeting: String }
        var dependencies = Dependencies()
        dependencies.set(Greeter(greeting: "hej"))
        let workflow = Workflow("deps") {
            Node("greet") { context in .string(try context.dependencies.require(Greeter.self).greeting) }
        }
        let result = try await LocalRuntime(workflow, configuration: .init(dependencies: dependencies)).run(workflow)
        #expect(result.output == "hej")
    }
}
