import Testing
import Weft
import WeftTesting

struct Flaky: Error {}

@Suite("Failures, retries, timeouts and fallbacks")
struct FailureTests {
    @Test("A failure in one branch fails the run, names the node, and cancels the other branch")
    func failureInOneBranch() async throws {
        let sibling = Gate()
        let siblingCancelled = Counter()
        let workflow = Workflow("fails") {
            Node("start", echo)
            Node("boom") { _ in await sibling.wait(); throw NodeError.permanent("card declined", code: "declined") }
            Node("sibling") { _ in
                sibling.open()
                do {
                    try await untilCancelled()
                } catch {
                    siblingCancelled.increment()
                }
                throw CancellationError()
            }
            Node("after", echo)
            Edge("start", to: "boom")
            Edge("start", to: "sibling")
            Edge("boom", to: "after")
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.status == .failed)
        #expect(result.failure?.nodeID == "boom")
        #expect(result.failure?.attempt == 1)
        #expect(result.failure?.cause.message == "card declined")
        #expect(result.failure?.cause.code == "declined")
        #expect(result[node: "boom"]?.status == .failed)
        #expect(result[node: "after"]?.status == .notRun)
        #expect(siblingCancelled.current == 1)
        #expect(result.output == nil)
    }

    @Test("Retries with exponential backoff wait on the clock, then succeed")
    func retriesWithBackoff() async throws {
        let clock = ManualClock()
        let calls = Counter()
        let workflow = Workflow("retry") {
            Node("flaky") { _ in
                if calls.increment() < 3 { throw Flaky() }
                return "ok"
            }.retry(maxAttempts: 3, backoff: .exponential(initial: .seconds(1), multiplier: 2, maximum: .seconds(10), jitter: 0))
        }
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let events = runtime.events()
        let handle = try runtime.start(workflow.blueprint)
        await clock.waitForSleepers(1)
        #expect(calls.current == 1)
        clock.advance(by: .milliseconds(999))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .milliseconds(1))
        await clock.waitForSleepers(1)
        #expect(calls.current == 2)
        clock.advance(by: .seconds(2))
        let result = await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == "ok")
        #expect(result[node: "flaky"]?.attempts == 3)
        let delays = await eventKinds(of: result.runID, in: events).compactMap { kind -> Duration? in
            if case .nodeRetrying(_, _, let delay) = kind { return delay }
            return nil
        }
        #expect(delays == [.seconds(1), .seconds(2)])
    }

    @Test("Jitter shortens delays within its fraction and never exceeds the cap")
    func jitterBounds() {
        let backoff = Backoff.exponential(initial: .seconds(1), multiplier: 3, maximum: .seconds(5), jitter: 0.5)
        for retry in 1...6 {
            let full = min(pow(3.0, Double(retry - 1)), 5)
            for random in [0.0, 0.25, 0.999] {
                let delay = backoff.delay(beforeRetry: retry, random: random).seconds
                #expect(delay <= full + 1e-9)
                #expect(delay >= full * 0.5 - 1e-9)
            }
        }
        #expect(Backoff.fixed(.seconds(2)).delay(beforeRetry: 4, random: 0.7) == .seconds(2))
    }

    @Test("A non-retryable error stops the attempts at once")
    func nonRetryable() async throws {
        let calls = Counter()
        let workflow = Workflow("permanent") {
            Node("n") { _ in calls.increment(); throw NodeError.permanent("bad request") }.retry(maxAttempts: 5, backoff: .none)
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.status == .failed)
        #expect(calls.current == 1)
        #expect(result.failure?.cause.isRetryable == false)
    }

    @Test("Attempts are exhausted after maxAttempts and the last error is reported")
    func exhausted() async throws {
        let calls = Counter()
        let workflow = Workflow("exhaust") {
            Node("n") { _ in throw NodeError.transient("attempt \(calls.increment())") }.retry(maxAttempts: 3, backoff: .none)
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.status == .failed)
        #expect(calls.current == 3)
        #expect(result.failure?.attempt == 3)
        #expect(result.failure?.cause.message == "attempt 3")
    }

    @Test("A per-attempt timeout cancels the attempt, counts it as failed and retries")
    func timeoutRetries() async throws {
        let clock = ManualClock()
        let calls = Counter()
        let sawCancellation = Counter()
        let workflow = Workflow("timeout") {
            Node("slow") { _ in
                if calls.increment() == 1 {
                    do { try await clock.sleep(for: .seconds(60)) } catch { sawCancellation.increment(); throw error }
                }
                return "second attempt"
            }.timeout(.seconds(5)).retry(maxAttempts: 2, backoff: .none)
        }
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint)
        await clock.waitForSleepers(2)  // the node's own sleep and its timeout
        clock.advance(by: .seconds(5))
        let result = await handle.result()
        #expect(result.status == .completed)
        #expect(result.output == "second attempt")
        #expect(result[node: "slow"]?.attempts == 2)
        #expect(result[node: "slow"]?.failure?.isTimeout == true)
        #expect(sawCancellation.current == 1)
    }

    @Test("A timeout without retries fails the run with a timeout error")
    func timeoutFails() async throws {
        let clock = ManualClock()
        let workflow = Workflow("timeout-fails") {
            Node("stuck") { _ in try await clock.sleep(for: .seconds(3600)); return nil }.timeout(.seconds(1))
        }
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint)
        await clock.waitForSleepers(2)
        clock.advance(by: .seconds(1))
        let result = await handle.result()
        #expect(result.status == .failed)
        #expect(result.failure?.cause.code == "timed_out")
    }

    @Test("A run deadline fails the run when it passes")
    func runDeadline() async throws {
        let clock = ManualClock()
        let workflow = Workflow("deadline") {
            Node("long") { _ in try await clock.sleep(for: .seconds(3600)); return nil }
        }
        let runtime = LocalRuntime(workflow, configuration: .init(clock: clock))
        let handle = try runtime.start(workflow.blueprint, options: RunOptions(deadline: .seconds(30)))
        await clock.waitForSleepers(2)
        clock.advance(by: .seconds(30))
        let result = await handle.result()
        #expect(result.status == .failed)
        #expect(result.failure?.nodeID == nil)
        #expect(result.failure?.cause.code == "deadline_exceeded")
        #expect(result[node: "long"]?.status == .interrupted)
    }

    @Test("A fallback node runs with the failed node's input and error, and its output flows on")
    func fallbackNode() async throws {
        let workflow = Workflow("fallback") {
            Node("fetch") { _ in throw NodeError.transient("service down") }
                .retry(maxAttempts: 2, backoff: .none)
                .fallback { context in
                    ["cached": context.input, "because": .string(context.failure?.message ?? "?")]
                }
            Node("render", echo)
            Edge("fetch", to: "render")
        }
        let result = try await LocalRuntime(workflow).run(workflow, input: "page-7")
        #expect(result.status == .completed)
        #expect(result.output == ["cached": "page-7", "because": "service down"])
        #expect(result[node: "fetch"]?.usedFallback == true)
        #expect(result[node: "fetch"]?.attempts == 2)
    }

    @Test("A failing fallback fails the run")
    func failingFallback() async throws {
        let workflow = Workflow("fallback-fails") {
            Node("fetch") { _ in throw NodeError.permanent("down") }.fallback { _ in throw NodeError.permanent("cache empty") }
        }
        let result = try await LocalRuntime(workflow).run(workflow)
        #expect(result.status == .failed)
        #expect(result.failure?.cause.message == "cache empty")
    }
}

import Foundation
