import Synchronization
import Weft
import WeftTesting

/// Records the order in which things happen across tasks.
final class Trail: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
    func count(_ entry: String) -> Int { all.filter { $0 == entry }.count }
}

/// Counts calls across tasks.
final class Counter: Sendable {
    private let value = Mutex(0)
    @discardableResult func increment() -> Int { value.withLock { $0 += 1; return $0 } }
    var current: Int { value.withLock { $0 } }
}

/// Tracks how many things run at once, and the most there ever were.
final class Gauge: Sendable {
    private let state = Mutex((now: 0, peak: 0))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
}

extension LocalRuntime {
    /// Runs a workflow built with the builder.
    func run(_ workflow: Workflow, input: JSONValue = .null, options: RunOptions = RunOptions()) async throws -> RunResult {
        try await run(workflow.blueprint, input: input, options: options)
    }
}

/// A node that echoes its input.
let echo: @Sendable (NodeContext) async throws -> JSONValue = { $0.input }

/// A node returning a constant.
func constant(_ value: JSONValue) -> @Sendable (NodeContext) async throws -> JSONValue {
    { _ in value }
}

/// Suspends until the calling task is cancelled, then throws `CancellationError`.
func untilCancelled() async throws {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    defer { continuation.finish() }
    for await _ in stream {}  // an AsyncStream's iteration ends when the task is cancelled
    throw CancellationError()
}

/// The events of run `runID` from `events`, up to and including its end.
func eventKinds(of runID: String, in events: AsyncStream<RunEvent>) async -> [RunEvent.Kind] {
    var kinds: [RunEvent.Kind] = []
    for await event in events where event.runID == runID {
        kinds.append(event.kind)
        if case .runFinished = event.kind { break }
    }
    return kinds
}
