import Weft

/// Every sample, by name, with the node code the `weft` CLI runs blueprints against.
public enum SampleCatalog {
    /// A runnable sample.
    public struct Sample: Sendable {
        /// The sample's name, as `weft` and README use it.
        public var name: String
        /// Its workflow.
        public var workflow: Workflow
        /// An input to run it with.
        public var input: JSONValue
        /// The signals the runner sends when a node of the run waits for one (standing in for
        /// the person or system that would).
        public var signals: [Signal] = []
    }

    /// A signal a sample's run gets when its node waits.
    public struct Signal: Sendable {
        /// The waiting node.
        public var node: String
        /// The action.
        public var action: String
        /// The payload.
        public var payload: JSONValue
    }

    /// The samples.
    public static let samples: [Sample] = [
        Sample(name: "order-pipeline", workflow: OrderPipeline.workflow, input: OrderPipeline.sampleInput),
        Sample(name: "document-processing", workflow: DocumentProcessing.workflow, input: DocumentProcessing.sampleInput),
        Sample(
            name: "expense-review", workflow: ExpenseReview.workflow, input: ExpenseReview.sampleInput,
            signals: [ExpenseReview.approval]),
    ]

    /// The node code of every sample and fleet workload in one registry.
    public static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        for sample in samples + FleetWorkloads.all { registry.merge(sample.workflow.registry) }
        return registry
    }()

    /// The sample or fleet workload named `name`.
    public static func sample(named name: String) -> Sample? {
        (samples + FleetWorkloads.all).first { $0.name == name }
    }
}
