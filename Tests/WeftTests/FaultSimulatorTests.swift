import Foundation
import Testing
import Weft
import WeftConformance

@Suite("Seeded fault simulator")
struct FaultSimulatorTests {
    @Test("Hundreds of seeds of duplicates, reorders, lost acks and crashes end exactly as LocalRuntime does")
    func manySeeds() async throws {
        var totals = (runs: 0, deliveries: 0, crashes: 0, lostAcks: 0, duplicates: 0, reconciles: 0)
        // WEFT_SIMULATOR_SEEDS=first-last runs other seeds (say, 1-5000 for a long soak).
        let range = ProcessInfo.processInfo.environment["WEFT_SIMULATOR_SEEDS"].flatMap { text -> ClosedRange<UInt64>? in
            let parts = text.split(separator: "-").compactMap { UInt64($0) }
            return parts.count == 2 && parts[0] <= parts[1] ? parts[0]...parts[1] : nil
        } ?? 1...300
        for seed in range {
            let report = try await FaultSimulator(seed: seed).run(EngineScenario.standard)
            #expect(report.violations.isEmpty, "\(report)")
            if !report.violations.isEmpty { break }
            totals.runs += report.runs
            totals.deliveries += report.deliveries
            totals.crashes += report.crashes
            totals.lostAcks += report.lostAcks
            totals.duplicates += report.duplicates
            totals.reconciles += report.reconciles
        }
        // The faults really happened.
        #expect(totals.crashes > 100 && totals.lostAcks > 100 && totals.duplicates > 100 && totals.reconciles > 50, "\(totals)")
        print("fault simulator, seeds \(range): \(totals)")
    }

    @Test("Harsh faults (frequent crashes and reconciler passes) still end exactly as LocalRuntime does")
    func harshFaults() async throws {
        let faults = FaultSimulator.Faults(crash: 0.2, lostAck: 0.2, duplicate: 0.3, reconcile: 0.15)
        for seed in UInt64(10_001)...10_100 {
            let report = try await FaultSimulator(seed: seed, faults: faults).run(EngineScenario.standard)
            #expect(report.violations.isEmpty, "\(report)")
            if !report.violations.isEmpty { break }
        }
    }

    @Test("Loops, sub-workflows, batches and sleeps under hundreds of seeds end exactly as LocalRuntime does")
    func controlFlowSeeds() async throws {
        // The 1,000-item batch is replaced by a 40-item one: the simulator takes one step per
        // delivery, and this test is about faults, not size.
        let scenarios = EngineScenario.controlFlow.filter { $0.name != EngineScenario.batch.name } + [Self.smallBatch]
        var totals = (runs: 0, deliveries: 0, crashes: 0, duplicates: 0, reconciles: 0)
        for seed in UInt64(20_001)...20_200 {
            let report = try await FaultSimulator(seed: seed).run(scenarios)
            #expect(report.violations.isEmpty, "\(report)")
            if !report.violations.isEmpty { break }
            totals.runs += report.runs
            totals.deliveries += report.deliveries
            totals.crashes += report.crashes
            totals.duplicates += report.duplicates
            totals.reconciles += report.reconciles
        }
        #expect(totals.crashes > 100 && totals.duplicates > 100 && totals.reconciles > 20, "\(totals)")
        print("fault simulator, control flow: \(totals)")
    }

    static let smallBatch = EngineScenario("batch of 40", inputs: [.array((0..<40).map { JSONValue($0) })]) {
        Node.batch("square", concurrency: 4) { context in JSONValue(context.input.intValue! * context.input.intValue!) }
    }

    @Test("A seed replays exactly")
    func replay() async throws {
        let first = try await FaultSimulator(seed: 7).run(EngineScenario.standard)
        let second = try await FaultSimulator(seed: 7).run(EngineScenario.standard)
        #expect(first.description == second.description)
        #expect(first.deliveries > 0)
    }
}
