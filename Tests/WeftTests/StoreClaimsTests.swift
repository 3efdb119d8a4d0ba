import Testing
@testable import Weft

/// A store serves one fleet, and one content per blueprint version (issue 24, case 5: fleets
/// `weft.fa` and `weft.fb` shared a store and each served a blueprint `mix` v1 of its own; after
/// one fleet's worker was killed, the other's reconciler re-published its own first node for
/// the first fleet's run, which then "completed" with a result it could never produce).
@Suite("Store claims: one fleet per store, one content per blueprint version")
struct StoreClaimsTests {
    /// Blueprint `mix` v1, its content depending on `variant` (a second node for variant 2).
    static func mix(_ variant: Int) -> Workflow {
        Workflow("mix", version: "1") {
            Node("first") { _ in JSONValue(variant) }
            if variant == 2 {
                Node("second") { _ in 2 }
                Edge("first", to: "second")
            }
        }
    }

    @Test("A client or worker of a second fleet is refused a store the first fleet uses, before it runs anything")
    func secondFleetRefused() async throws {
        let shared = InMemoryCoordinationStore()
        let first = try ManualFleet([Self.mix(1)], fleet: FleetOptions(queuePrefix: "weft.fa")) { _ in shared }
        let handle = try await first.client.start(Self.mix(1).blueprint)
        try await first.drain()
        #expect(try await handle.result().output == 1)

        let second = try ManualFleet([Self.mix(1)], fleet: FleetOptions(queuePrefix: "weft.fb")) { _ in shared }
        await #expect { try await second.client.start(Self.mix(1).blueprint) } throws: { error in
            guard let error = error as? WeftError, error.code == .storeOwnedByAnotherFleet else { return false }
            return error.message.contains("\"weft.fa\"") && error.message.contains("\"weft.fb\"")
        }
        await #expect { try await second.workers[0].checkStore() } throws: { ($0 as? WeftError)?.code == .storeOwnedByAnotherFleet }
        #expect(try await second.transport.depth(of: second.jobs) == 0)
        await first.shutdown()
        await second.shutdown()
    }

    @Test("One blueprint id and version with other content is refused, to a client's start and to a worker")
    func otherContentRefused() async throws {
        let shared = InMemoryCoordinationStore()
        let first = try ManualFleet([Self.mix(1)]) { _ in shared }
        _ = try await first.client.start(Self.mix(1).blueprint)
        let changed = try ManualFleet([Self.mix(2)]) { _ in shared }
        await #expect { try await changed.client.start(Self.mix(2).blueprint) } throws: { error in
            guard let error = error as? WeftError, error.code == .blueprintContentMismatch else { return false }
            return error.message.contains("\"mix\" v1") && error.message.contains("new version")
        }
        await #expect { try await changed.workers[0].checkStore() } throws: { ($0 as? WeftError)?.code == .blueprintContentMismatch }
        // The same content again is welcome.
        let same = try ManualFleet([Self.mix(1)]) { _ in shared }
        _ = try await same.client.start(Self.mix(1).blueprint)
        for fleet in [first, changed, same] { await fleet.shutdown() }
    }

    @Test("A blueprint's digest depends on its content alone")
    func digest() {
        let blueprint = Self.mix(1).blueprint
        #expect(StoreClaims.digest(of: blueprint) == StoreClaims.digest(of: Self.mix(1).blueprint))
        var changed = blueprint
        changed.nodes[0].config.maxAttempts = 3
        #expect(StoreClaims.digest(of: changed) != StoreClaims.digest(of: blueprint))
        #expect(StoreClaims.digest(of: blueprint).count == 32)
    }
}
