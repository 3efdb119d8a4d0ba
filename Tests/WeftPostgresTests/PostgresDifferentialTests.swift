import Foundation
import Testing
import Weft
import WeftConformance
import WeftPostgres

extension PostgresTests {
    /// Issue 23's proof by difference on real parts: generated workflows on a fleet of racing
    /// workers whose stores are PostgreSQL give LocalRuntime's observable runs.
    @Suite("Differential on PostgreSQL")
    struct Differential {
        @Test("Generated workflows on PostgreSQL stores give LocalRuntime's observable runs")
        func generatedWorkflows() async throws {
            // WEFT_POSTGRES_DIFFERENTIAL_SEEDS=first-last runs other seeds.
            let seeds = WorkflowGenerator.seeds(
                from: "WEFT_POSTGRES_DIFFERENTIAL_SEEDS", default: 20_001...20_300,
                environment: ProcessInfo.processInfo.environment)
            let stores = StoreList()
            let store = try await Database.scratchStore(in: stores)
            let backends = WeftBackends(
                transport: InMemoryQueueTransport(), contextStore: store.contextStore, coordinationStore: store.coordinationStore)
            let differences = try await EngineConformance.check(
                WorkflowGenerator().scenarios(seeds), backends: backends, workers: 3, concurrency: 24)
            await stores.closeAll()
            let failing = WorkflowGenerator.failingSeeds(in: differences)
            let replay = "WEFT_POSTGRES_DIFFERENTIAL_SEEDS=\(failing.first ?? 0) scripts/test.sh --filter PostgresTests.Differential"
            #expect(differences.isEmpty, "replay: \(replay)\n\(differences.prefix(30).joined(separator: "\n"))")
            print("differential on PostgreSQL: seeds \(seeds), \(seeds.count * WorkflowGenerator.Options().inputs) runs")
        }
    }
}
