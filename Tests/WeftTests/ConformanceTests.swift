import Testing
import Weft
import WeftConformance

@Suite("Conformance of the in-memory backends")
struct ConformanceTests {
    @Test("The distributed runtime on in-memory backends gives LocalRuntime's results", arguments: EngineScenario.standard)
    func engineRules(_ scenario: EngineScenario) async throws {
        let differences = try await EngineConformance.check(scenario, backends: .inMemory())
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    @Test(
        "Loops, sub-workflows, batches and sleeps on in-memory backends give LocalRuntime's results",
        arguments: EngineScenario.controlFlow)
    func controlFlow(_ scenario: EngineScenario) async throws {
        let differences = try await EngineConformance.check(scenario, backends: .inMemory())
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }
}

@Suite("Protocol contracts of the in-memory backends")
struct ProtocolContractTests {
    @Test("Every contract holds", arguments: ProtocolConformance.all)
    func contract(_ check: ProtocolCheck) async throws {
        let failures = try await check.run(.inMemory())
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
