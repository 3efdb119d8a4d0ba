import Foundation
import Testing
import Weft
import WeftConformance

/// Issue 23's proof by difference: generated workflows run embedded and on the in-memory fleet
/// give identical observable runs (status, result, each node's state, output, action, attempts
/// and fallback use), with workers racing each other and under the seeded fault simulator.
/// A failing seed prints the command that replays it.
@Suite("Differential: generated workflows run the same embedded and on a fleet")
struct DifferentialTests {
    static let environment = ProcessInfo.processInfo.environment

    @Test("Generated workflows on an in-memory fleet of racing workers give LocalRuntime's observable runs")
    func racingWorkers() async throws {
        // WEFT_DIFFERENTIAL_SEEDS=first-last runs other seeds (say, 1-20000 for a long soak).
        let seeds = WorkflowGenerator.seeds(from: "WEFT_DIFFERENTIAL_SEEDS", default: 1...600, environment: Self.environment)
        var runs = 0
        var signalled = 0
        for chunk in stride(from: seeds.lowerBound, through: seeds.upperBound, by: 100) {
            let scenarios = WorkflowGenerator().scenarios(chunk...min(chunk + 99, seeds.upperBound))
            runs += scenarios.reduce(0) { $0 + $1.inputs.count }
            signalled += scenarios.reduce(0) { $0 + $1.signals.count }
            let differences = try await EngineConformance.check(scenarios, backends: .inMemory(), workers: 3, concurrency: 24)
            let failing = WorkflowGenerator.failingSeeds(in: differences)
            let replay = "WEFT_DIFFERENTIAL_SEEDS=\(failing.first ?? 0) swift test --filter DifferentialTests/racingWorkers"
            #expect(differences.isEmpty, "replay: \(replay)\n\(differences.prefix(30).joined(separator: "\n"))")
            if !differences.isEmpty { break }
        }
        #expect(signalled > 0)
        print("differential, racing workers: seeds \(seeds), \(runs) runs, \(signalled) waits signalled")
    }

    @Test("Generated workflows under duplicates, redeliveries, reorders and crashes give LocalRuntime's observable runs")
    func simulatedFaults() async throws {
        // Each simulator seed runs the scenarios of four generator seeds: 4 × seed … 4 × seed + 3.
        let seeds = WorkflowGenerator.seeds(from: "WEFT_SIMULATOR_GENERATED_SEEDS", default: 1...300, environment: Self.environment)
        var totals = (runs: 0, crashes: 0, duplicates: 0, reconciles: 0)
        for seed in seeds {
            let scenarios = WorkflowGenerator(options: .init(signals: false)).scenarios((4 * seed)..<(4 * seed + 4))
            let report = try await FaultSimulator(seed: seed).run(scenarios)
            #expect(
                report.violations.isEmpty,
                "replay: WEFT_SIMULATOR_GENERATED_SEEDS=\(seed) swift test --filter DifferentialTests/simulatedFaults\n\(report)")
            if !report.violations.isEmpty { break }
            totals.runs += report.runs
            totals.crashes += report.crashes
            totals.duplicates += report.duplicates
            totals.reconciles += report.reconciles
        }
        #expect(totals.runs > 0)
        print("differential, simulated faults: seeds \(seeds): \(totals)")
    }
}
