import Testing
import WeftTesting

@testable import Weft

/// A job the worker cancels because its run ended must end there (dropped, acked), even on a
/// store that refuses to work for a cancelled task (as PostgreSQL's connection pool does): it is
/// no backend failure, and putting it back on its queue only makes another worker drop it.
@Suite("Jobs cancelled with their run")
struct CancelledJobTests {
    @Test("A job cancelled because its run ended is dropped, not requeued, when the store refuses a cancelled task")
    func droppedOnACancellationRefusingStore() async throws {
        let started = Gate()
        let stopped = Gate()
        let slow = DistributedRuntimeTests.cancellable("slow-refusing", started: started, stopped: stopped)
        var configuration = Worker.Configuration(cancellationCheckInterval: .milliseconds(20), logger: quiet)
        configuration.concurrency = 1
        let backends = WeftBackends(
            transport: InMemoryQueueTransport(), contextStore: InMemoryContextStore(),
            coordinationStore: CancellationRefusingStore(InMemoryCoordinationStore()))
        let fleet = try await InProcessFleet.start(
            registry: slow.registry, blueprints: [slow.blueprint], workers: 1, backends: backends, worker: configuration,
            client: DistributedRuntime.Configuration(logger: quiet))
        let handle = try await fleet.client.start(slow.blueprint)
        await started.wait()
        try await handle.cancel()
        await stopped.wait()
        #expect(try await handle.result().status == .cancelled)
        await fleet.shutdown()
        let statistics = fleet.workers[0].statistics
        #expect(statistics.dropped == 1)
        #expect(statistics.requeued == 0)
    }

    @Test("A run ended from a cancelled task still sets its status and resumes its parent")
    func endingOutlivesTheCallersCancellation() async throws {
        let child = Workflow("held-child", version: "1") { Node.waitForSignal("hold") }
        let parent = Workflow("holding-parent") { Node.subworkflow("call", child) }
        let fleet = try ManualFleet([parent], coordinationStore: { CancellationRefusingStore($0) })
        let handle = try await fleet.client.start(parent.blueprint)
        try await fleet.drain()
        let childID = "\(handle.runID)/call#1.0"
        #expect(try await fleet.client.status(childID).status == .waiting)
        // The job ending the child is cancelled by its worker meanwhile (the run ended).
        let finisher = fleet.workers[0].coordinator.finisher
        let ending = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await finisher.finish(childID, TerminalRecord(RunRules.cancelled))
        }
        #expect(try await ending.value.status == .cancelled)
        #expect(try await fleet.client.status(childID).status == .cancelled)
        // The parent heard: its resume is on the queue, and it ends.
        try await fleet.drain()
        #expect([RunStatus.failed, .cancelled].contains(try await handle.result().status))
        await fleet.shutdown()
    }
}

