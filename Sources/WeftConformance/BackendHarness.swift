import Weft
import WeftTesting

/// What the protocol checks need of a set of backends under test.
public struct BackendHarness: Sendable {
    /// Creates fresh, empty backends (or backends whose queues and runs do not collide with
    /// earlier checks: every check uses its own queue names and run ids).
    public var makeBackends: @Sendable () async throws -> WeftBackends
    /// Lets at least `duration` of the stores' time pass: advances a manual clock, or waits,
    /// for a store that keeps real time.
    public var passTime: @Sendable (Duration) async throws -> Void
    /// Makes a delivery lost, as the death of its consumer does, so that it is delivered again.
    public var loseDelivery: @Sendable (QueueDelivery) async throws -> Void

    /// Creates a harness.
    public init(
        makeBackends: @escaping @Sendable () async throws -> WeftBackends,
        passTime: @escaping @Sendable (Duration) async throws -> Void,
        loseDelivery: @escaping @Sendable (QueueDelivery) async throws -> Void
    ) {
        self.makeBackends = makeBackends
        self.passTime = passTime
        self.loseDelivery = loseDelivery
    }

    /// The in-memory backends, with a manual clock for their timers.
    public static func inMemory() -> BackendHarness {
        inMemory { InMemoryCoordinationStore(clock: $0) }
    }

    /// The in-memory transport and context store, with the coordination store `makeStore`
    /// makes on the harness's manual clock (a wrapper of the in-memory one, say).
    public static func inMemory(coordinationStore makeStore: @escaping @Sendable (StoreClock) -> any CoordinationStore)
        -> BackendHarness
    {
        let clock = ManualClock()
        let transport = InMemoryQueueTransport()
        return BackendHarness(
            makeBackends: {
                WeftBackends(transport: transport, contextStore: InMemoryContextStore(), coordinationStore: makeStore(StoreClock(clock)))
            },
            passTime: { clock.advance(by: $0) },
            loseDelivery: { try transport.abandon($0) })
    }
}

/// One check of a protocol contract. ``run(_:)`` returns what failed (empty: the contract holds).
public struct ProtocolCheck: Sendable, CustomStringConvertible {
    /// Which protocol it checks.
    public enum Subject: String, Sendable {
        case queue, context, coordination
    }

    /// What it checks.
    public var name: String
    /// Which protocol.
    public var subject: Subject
    let body: @Sendable (BackendHarness, inout [String]) async throws -> Void

    init(_ subject: Subject, _ name: String, _ body: @escaping @Sendable (BackendHarness, inout [String]) async throws -> Void) {
        self.subject = subject
        self.name = name
        self.body = body
    }

    /// Runs the check on `harness`'s backends and returns every violation found.
    public func run(_ harness: BackendHarness) async throws -> [String] {
        var failures: [String] = []
        try await body(harness, &failures)
        return failures.map { "\(subject.rawValue): \(name): \($0)" }
    }

    public var description: String { "\(subject.rawValue): \(name)" }
}

/// Records a violation when `condition` is false.
func expect(_ condition: Bool, _ message: @autoclosure () -> String, into failures: inout [String]) {
    if !condition { failures.append(message()) }
}

/// A name unique to one check, so that checks sharing backends do not collide.
func unique(_ base: String) -> String {
    base + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
}
