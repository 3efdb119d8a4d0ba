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
    }

    /// The samples.
    public static let samples: [Sample] = [
        Sample(name: "order-pipeline", workflow: OrderPipeline.workflow, input: OrderPipeline.sampleInput),
        Sample(name: "document-processing", workflow: DocumentProcessing.workflow, input: DocumentProcessing.sampleInput),
    ]

    /// The node code of every sample and fleet workload in one registry.
    public static var registry: NodeRegistry {
        var registry = NodeRegistry()
        for sample in samples + FleetWorkloads.all { registry.merge(sample.workflow.registry) }
        return registry
    }

    /// The sample or fleet workload named `name`.
    public static func sample(named name: String) -> Sample? {
        (samples + FleetWorkloads.all).first { $0.name == name }
    }
}
