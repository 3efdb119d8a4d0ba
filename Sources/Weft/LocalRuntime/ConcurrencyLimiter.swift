import Synchronization

/// A FIFO async semaphore bounding how many node attempts run at once.
///
/// Taking a free permit is one atomic compare-and-swap and never suspends; only a task that
/// finds none takes the lock and waits in line.
final class ConcurrencyLimiter: Sendable {
    private struct Waiters {
        var queue: [CheckedContinuation<Void, Never>] = []
        var head = 0
        var count: Int { queue.count - head }
    }

    private let available: Atomic<Int>
    /// How many tasks are waiting or about to: release takes the lock only when this is not 0.
    private let waiting = Atomic<Int>(0)
    private let waiters = Mutex(Waiters())

    init(limit: Int) {
        available = Atomic(max(limit, 1))
    }

    /// Takes a permit if one is free, without waiting. Pair a `true` with ``release()``.
    func tryAcquire() -> Bool {
        tryTake()
    }

    /// Waits for a permit. Pair every call with ``release()``.
    func acquire() async {
        if tryTake() { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = waiters.withLock { waiters -> Bool in
                waiting.add(1, ordering: .sequentiallyConsistent)
                if tryTake() {
                    waiting.subtract(1, ordering: .sequentiallyConsistent)
                    return true
                }
                waiters.queue.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Returns a permit, handing it to the longest waiter if there is one.
    func release() {
        available.add(1, ordering: .sequentiallyConsistent)
        guard waiting.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let next = waiters.withLock { waiters -> CheckedContinuation<Void, Never>? in
            guard waiters.count > 0, tryTake() else { return nil }
            let waiter = waiters.queue[waiters.head]
            waiters.head += 1
            waiting.subtract(1, ordering: .sequentiallyConsistent)
            if waiters.head == waiters.queue.count {
                waiters.queue.removeAll(keepingCapacity: true)
                waiters.head = 0
            } else if waiters.head > 1024 && waiters.head * 2 > waiters.queue.count {
                waiters.queue.removeFirst(waiters.head)
                waiters.head = 0
            }
            return waiter
        }
        next?.resume()
    }

    private func tryTake() -> Bool {
        var current = available.load(ordering: .relaxed)
        while current > 0 {
            let (exchanged, original) = available.compareExchange(
                expected: current, desired: current - 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
