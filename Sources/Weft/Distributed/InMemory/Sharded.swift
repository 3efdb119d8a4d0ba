import Synchronization

/// State split into shards by a string key (a run id), each behind its own lock, so that
/// tasks working on different keys seldom wait for each other.
final class Sharded<Value: Sendable>: Sendable {
    private final class Shard: Sendable {
        let state: Mutex<Value>
        init(_ value: sending Value) { state = Mutex(value) }
    }

    private let shards: [Shard]

    /// Creates `count` shards, each starting as `make()`.
    init(count: Int = 16, _ make: () -> Value) {
        shards = (0..<max(1, count)).map { _ in Shard(make()) }
    }

    /// Runs `body` on the shard of `key`, under its lock.
    func withLock<T: Sendable>(_ key: String, _ body: (inout Value) -> T) -> T {
        shards[index(key)].state.withLock { body(&$0) }
    }

    /// Runs `body` with the shards of every key in `keys` locked at once (in index order, so
    /// that concurrent callers cannot deadlock); `body` reaches a key's shard, a reference, through
    /// the function it is given, and must not keep it.
    func withLocks<T: Sendable>(_ keys: some Sequence<String>, _ body: ((String) -> Value) -> T) -> T where Value: AnyObject {
        let indices = Array(Set(keys.map(index))).sorted()
        var locked: [Int: Value] = [:]
        func lock(_ position: Int) -> T {
            guard position < indices.count else { return body { key in locked[self.index(key)]! } }
            return shards[indices[position]].state.withLock { value in
                locked[indices[position]] = value
                return lock(position + 1)
            }
        }
        return lock(0)
    }

    /// Runs `body` on every shard in turn, each under its lock.
    func forEach(_ body: (inout Value) -> Void) {
        for shard in shards { shard.state.withLock { body(&$0) } }
    }

    /// The shard of `key`: FNV-1a of its bytes, the same in every process.
    func index(_ key: String) -> Int {
        Int(SplitMix64.hash(key) % UInt64(shards.count))
    }
}
