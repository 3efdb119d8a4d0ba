import Foundation

/// Says when a worker should write a run's progress to the store: at most once per `interval`
/// per run, remembered in a small fixed table (no allocation per hop). A forgotten entry only
/// means one more write. Workers in hand of a long job heartbeat separately.
final class ProgressThrottle: Sendable {
    private struct Entry {
        var hash: UInt64 = 0
        var at: ContinuousClock.Instant
    }

    private static let slots = 64
    private let interval: Duration
    private let intervalSeconds: Double
    private let entries: Sharded<[Entry]>

    init(interval: Duration) {
        self.interval = interval
        self.intervalSeconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let never = ContinuousClock.now - .seconds(86_400)
        entries = Sharded(count: 16) { Array(repeating: Entry(at: never), count: Self.slots) }
    }

    /// Whether to record `run`'s progress now; if so, the time is noted. A run that started
    /// (wall-clock seconds `startedAt`) less than the interval ago needs no record: its start
    /// wrote one.
    func shouldRecord(_ run: String, now: ContinuousClock.Instant = .now, startedAt: Double? = nil) -> Bool {
        let hash = SplitMix64.hash(run)
        let slot = Int((hash >> 8) % UInt64(Self.slots))
        return entries.withLock(run) { entries in
            if entries[slot].hash == hash && entries[slot].at.duration(to: now) < interval { return false }
            if entries[slot].hash != hash, let startedAt {
                // A clock ahead of this one (a negative age) proves nothing: record then.
                let age = Date().timeIntervalSince1970 - startedAt
                if age >= 0 && age < intervalSeconds {
                    entries[slot] = Entry(hash: hash, at: now - .milliseconds(Int64(age * 1000)))
                    return false
                }
            }
            entries[slot] = Entry(hash: hash, at: now)
            return true
        }
    }
}
