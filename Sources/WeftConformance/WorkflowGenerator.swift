import Weft

/// Random workflows from a seed, for differential tests: every generated scenario must run the
/// same on ``LocalRuntime`` and on the distributed runtime over any backends (design §3).
///
/// A scenario is a graph of up to ``Options/maxNodes`` nodes, edges always pointing from an
/// earlier node to a later one: chains, wide and nested fan-out and fan-in, conditions on
/// outputs, actions with and without matching labels and with and without default edges, `all`
/// and `any` joins (joins whose every edge may be skipped included), transforms and `inputs`
/// maps, retries, fallbacks and failing nodes; and, with ``Options/controlFlow``, loops, batches,
/// sub-workflows, waits (for a signal the scenario sends, or timing out) and sleeps. Node code
/// is deterministic (a hash of the node's id, input and attempt), so every runtime must give the
/// same observable run; an `any` join's output does not depend on which edge fired it, and at
/// most one node of a workflow can fail for good, so that which node fails a run does not depend
/// on timing.
///
/// ```swift
/// for seed in 1...500 {
///     let scenario = WorkflowGenerator().scenario(seed: seed)
///     let differences = try await EngineConformance.check(scenario, backends: .inMemory())
///     #expect(differences.isEmpty, "\(WorkflowGenerator.replay(seed)): \(differences)")
/// }
/// ```
public struct WorkflowGenerator: Sendable {
    /// What the generated workflows may contain.
    public struct Options: Sendable, Hashable {
        /// The most nodes of a workflow (at least 2).
        public var maxNodes: Int
        /// Whether nodes fail: retried, falling back, or failing the run.
        public var failures: Bool
        /// Whether loops, batches, sub-workflows, waits and sleeps appear.
        public var controlFlow: Bool
        /// Whether some waits wait for a signal, which the scenario sends (``EngineScenario/signals``),
        /// rather than time out. Only for harnesses that send signals.
        public var signals: Bool
        /// How many inputs (so runs) each scenario has.
        public var inputs: Int

        /// Creates options; every member has a default.
        public init(maxNodes: Int = 10, failures: Bool = true, controlFlow: Bool = true, signals: Bool = true, inputs: Int = 3) {
            self.maxNodes = max(2, maxNodes)
            self.failures = failures
            self.controlFlow = controlFlow
            self.signals = signals
            self.inputs = max(1, inputs)
        }
    }

    /// What the generated workflows may contain.
    public var options: Options

    /// Creates a generator.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// The scenario of `seed`: the same seed always gives the same scenario. Its blueprint id,
    /// node ids and code keys carry the seed, so scenarios of different seeds share a fleet.
    public func scenario(seed: UInt64) -> EngineScenario {
        var random = GeneratorRandom(seed: seed)
        let graph = GeneratedGraph(seed: seed, options: options, random: &random)
        let inputs = (0..<options.inputs).map { index -> JSONValue in
            index == 0 ? 0 : .int(Int64(random.below(100)))
        }
        return EngineScenario(
            "generated \(seed)", inputs: inputs, signals: graph.signals,
            workflow: Workflow(graph.blueprintID) { graph.components }.namespaced(graph.blueprintID))
    }

    /// The scenarios of `seeds`.
    public func scenarios(_ seeds: some Sequence<UInt64>) -> [EngineScenario] {
        seeds.map { scenario(seed: $0) }
    }

    /// A node's value: a stable hash of its id, input and a salt, below 100.
    static func value(_ id: String, _ input: JSONValue, salt: String = "") -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (id + "|" + salt + "|" + input.description).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int(hash % 100)
    }
}

/// The seeded randomness of a generator: the engine's SplitMix64, with the draws it needs.
struct GeneratorRandom {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B) }

    mutating func below(_ bound: Int) -> Int { Int(generator.next() % UInt64(max(1, bound))) }

    mutating func chance(_ probability: Double) -> Bool { generator.nextUnit() < probability }

    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
}

extension WorkflowGenerator {
    /// The seeds named by the environment variable `variable` (`first-last`, or one seed),
    /// else `defaults`: how a failing seed is replayed.
    public static func seeds(from variable: String, default defaults: ClosedRange<UInt64>, environment: [String: String])
        -> ClosedRange<UInt64>
    {
        guard let text = environment[variable] else { return defaults }
        let parts = text.split(separator: "-").compactMap { UInt64($0) }
        if parts.count == 1 { return parts[0]...parts[0] }
        return parts.count == 2 && parts[0] <= parts[1] ? parts[0]...parts[1] : defaults
    }

    /// The seeds of the scenarios that `differences` (lines from ``EngineConformance``) name.
    public static func failingSeeds(in differences: [String]) -> [UInt64] {
        let seeds = differences.compactMap { line -> UInt64? in
            guard line.hasPrefix("generated ") else { return nil }
            return UInt64(line.dropFirst("generated ".count).prefix { $0.isNumber })
        }
        return Array(Set(seeds)).sorted()
    }
}
