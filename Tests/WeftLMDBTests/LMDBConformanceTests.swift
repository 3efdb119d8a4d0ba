import Testing
import Weft
import WeftConformance
import WeftTesting
@testable import WeftLMDB

#if canImport(Glibc)
import Glibc
#endif

@Suite("LMDB stores pass the conformance suites")
struct LMDBConformanceTests {
    /// Backends whose context store is LMDB, in a fresh environment each time (kept until the
    /// test process ends).
    static func contextHarness() -> BackendHarness {
        let clock = ManualClock()
        return BackendHarness(
            makeBackends: {
                var template = Array("/tmp/weft-lmdb-conformance-XXXXXX".utf8CString)
                let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
                let environment = try LMDBEnvironment(LMDBConfiguration(path: path), databases: LMDBContextStore.databases)
                return WeftBackends(
                    transport: InMemoryQueueTransport(), contextStore: LMDBContextStore(environment: environment),
                    coordinationStore: InMemoryCoordinationStore(clock: StoreClock(clock)))
            },
            passTime: { clock.advance(by: $0) },
            loseDelivery: { _ in })
    }

    @Test("Every context-store contract holds", arguments: ProtocolConformance.context)
    func contextContract(_ check: ProtocolCheck) async throws {
        let failures = try await check.run(Self.contextHarness())
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
