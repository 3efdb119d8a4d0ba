import Logging

/// Publishes a run's messages: jobs to their nodes' queues, with their priorities, and a run's
/// events to the client that asked for them.
struct JobPublisher: Sendable {
    let transport: any QueueTransport
    let logger: Logger

    /// The job of attempt `attempt` of `node`, carrying its fencing token.
    static func job(
        plan: FleetPlan, runID: String, node: Int, iteration: Int, attempt: Int, generation: Int64 = 0, input: JSONValue
    ) -> Envelope {
        let blueprint = plan.plan.blueprint
        return Envelope(
            kind: .job, runID: runID, blueprintID: blueprint.id, blueprintVersion: blueprint.version,
            nodeID: plan.plan.ids[node], iteration: iteration, attempt: attempt,
            fencingToken: RunKeys.token(attempt: attempt, generation: generation), payload: input)
    }

    /// Publishes the job of attempt `attempt` of `node`.
    func publishJob(
        plan: FleetPlan, runID: String, node: Int, iteration: Int, attempt: Int, generation: Int64 = 0, input: JSONValue
    ) async throws {
        try await publish(
            Self.job(plan: plan, runID: runID, node: node, iteration: iteration, attempt: attempt, generation: generation, input: input),
            plan: plan, node: node)
    }

    /// Publishes `job`, a job of `node`, to the node's queue with its priority.
    func publish(_ job: Envelope, plan: FleetPlan, node: Int) async throws {
        try await transport.publish(QueueMessage(body: job.encoded(), priority: plan.priorities[node]), to: plan.queues[node])
    }

    /// Sends the events `report` noted so far to the run's client. A client that is gone, or a
    /// transport that fails, costs the client its events, never the job its progress.
    func send(_ report: RunEventReport?) async {
        guard let report, let message = report.takeMessage() else { return }
        do {
            try await transport.publish(message, to: report.queue)
        } catch {
            logger.debug("could not send a run's events to its client", metadata: ["weft.run": "\(report.run)", "weft.error": "\(error)"])
        }
    }
}
