import Synchronization
import Weft

/// The contracts of the three seams (design §3), as checks any implementation can run:
/// ordering, ack/retry/dead-letter, delivery counts, atomicity under concurrent callers,
/// fencing, durable timers, the progress index, run deletion and atomic batches.
///
/// ```swift
/// @Test(arguments: ProtocolConformance.all)
/// func contracts(_ check: ProtocolCheck) async throws {
///     let failures = try await check.run(.inMemory())
///     #expect(failures.isEmpty, "\(failures)")
/// }
/// ```
public enum ProtocolConformance {
    /// Every check, those of atomic batches included.
    public static var all: [ProtocolCheck] { queue + context + coordination + atomicBatches }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// An array shared between tasks.
final class LockedArray<Element: Sendable>: Sendable {
    private let elements = Mutex<[Element]>([])

    /// Appends and returns the new count.
    @discardableResult
    func append(_ element: Element) -> Int { elements.withLock { $0.append(element); return $0.count } }

    var all: [Element] { elements.withLock { $0 } }
}
