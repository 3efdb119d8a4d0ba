import Foundation
import Testing
import Weft
import WeftAMQP
import WeftLMDB
import WeftConformance

/// Every test that talks to the broker, one at a time: some stop and restart it.
@Suite("AMQP transport on a real RabbitMQ", .serialized)
struct AMQPTests {}

extension AMQPTests {
@Suite("Conformance suites")
struct Conformance {
    @Test("Every queue contract holds (classic queues)", arguments: ProtocolConformance.queue)
    func queueContract(_ check: ProtocolCheck) async throws {
        let failures = try await check.run(Broker.harness())
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("The distributed runtime over AMQP gives LocalRuntime's results", arguments: EngineScenario.standard + EngineScenario.controlFlow)
    func engineRules(_ scenario: EngineScenario) async throws {
        let transport = try await Broker.transport()
        let backends = WeftBackends(
            transport: transport, contextStore: InMemoryContextStore(), coordinationStore: InMemoryCoordinationStore())
        let differences = try await EngineConformance.check(
            scenario, backends: backends, fleet: FleetOptions(queuePrefix: unique("conformance")))
        await transport.shutdown()
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    @Test("The distributed runtime over AMQP with LMDB stores gives LocalRuntime's results", arguments: EngineScenario.standard + EngineScenario.controlFlow)
    func engineRulesOnLMDB(_ scenario: EngineScenario) async throws {
        let transport = try await Broker.transport()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-amqp-lmdb-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try LMDBStateStore(LMDBConfiguration(path: directory))
        let backends = WeftBackends(
            transport: transport, contextStore: store.contextStore, coordinationStore: store.coordinationStore)
        let differences = try await EngineConformance.check(
            scenario, backends: backends, fleet: FleetOptions(queuePrefix: unique("conformance")))
        await transport.shutdown()
        store.close()
        #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }
}
}
