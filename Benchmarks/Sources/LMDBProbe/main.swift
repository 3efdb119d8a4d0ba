import Foundation
import LMDBRawPuts
import Weft
import WeftLMDB

// The LMDB issue's benchmark, in one run on one disk:
//   1. a plain C loop of fsynced puts, 100 per transaction (the batched LMDB limit),
//   2. Weft's LMDB coordination store in durable mode: set-if-absent of fresh keys by 1, 16
//      and 256 concurrent callers (group commit does the batching),
//   3. reads of stored values (`value(at:)`) by as many tasks as there are cores,
// for `rounds` rounds; prints medians and the ratio of (2) at 256 callers to (1).
//   swift build -c release --package-path Benchmarks --product lmdb-probe && Benchmarks/.build/release/lmdb-probe [rounds] [dir]
// `dir` (default: a new directory under /var/tmp) must be on the disk to measure; tmpfs would
// measure no fsync at all.
let arguments = Array(CommandLine.arguments.dropFirst())
let rounds = arguments.first.flatMap { Int($0) } ?? 3
let parent = arguments.count > 1 ? arguments[1] : "/var/tmp"
let measureFor = Duration.seconds(2)

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func freshDirectory() -> String {
    var template = Array("\(parent)/weft-lmdb-probe-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// A key like the runtime's: a UUID-long run id and a node record's name.
func key(_ index: Int) -> StoreKey {
    StoreKey(run: String(format: "%08x-0000-4000-8000-%012d", index / 10, index / 10), name: "n\(index % 10).0")
}

func raw() -> Double {
    let path = freshDirectory()
    defer { remove(path) }
    let rate = weft_lmdb_raw_puts(path, 200_000, 100)
    precondition(rate > 0, "the C loop failed: LMDB error \(-rate)")
    return rate
}

/// Set-if-absent of fresh keys by `callers` tasks for `measureFor`; operations per second.
func setIfAbsent(callers: Int) async throws -> Double {
    let path = freshDirectory()
    defer { remove(path) }
    let store = try LMDBStateStore(LMDBConfiguration(path: path))
    defer { store.close() }
    let coordination = store.coordinationStore
    let value = [UInt8](repeating: 7, count: 16)
    let deadline = ContinuousClock.now + measureFor
    let start = ContinuousClock.now
    let done = try await withThrowingTaskGroup(of: Int.self) { group in
        for caller in 0..<callers {
            group.addTask {
                var count = 0
                while ContinuousClock.now < deadline {
                    let index = caller + count * callers
                    guard try await coordination.setIfAbsent(key(index), value, fence: nil) == .stored else {
                        fatalError("a fresh key was not stored")
                    }
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = start.duration(to: .now)
    return Double(done) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

/// Reads of `count` stored values by one task per core for `measureFor`; reads per second.
func reads(count: Int = 100_000) async throws -> Double {
    let path = freshDirectory()
    defer { remove(path) }
    let store = try LMDBStateStore(LMDBConfiguration(path: path, syncMode: .fast))
    defer { store.close() }
    let coordination = store.coordinationStore
    let value = [UInt8](repeating: 7, count: 16)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for slice in 0..<64 {
            group.addTask {
                for index in stride(from: slice, to: count, by: 64) { _ = try await coordination.setIfAbsent(key(index), value, fence: nil) }
            }
        }
        try await group.waitForAll()
    }
    let keys = (0..<count).map(key)
    let deadline = ContinuousClock.now + measureFor
    let start = ContinuousClock.now
    let readers = ProcessInfo.processInfo.activeProcessorCount
    let done = try await withThrowingTaskGroup(of: Int.self) { group in
        for reader in 0..<readers {
            group.addTask {
                var done = 0
                var index = reader * 7919
                while ContinuousClock.now < deadline {
                    for _ in 0..<256 {
                        index = (index &+ 7919) % count
                        guard try await coordination.value(at: keys[index]) != nil else { fatalError("a stored value is missing") }
                    }
                    done += 256
                }
                return done
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = start.duration(to: .now)
    return Double(done) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

var figures: [String: [Double]] = [:]
let callerCounts = [1, 16, 256]
for round in 1...rounds {
    figures["raw", default: []].append(raw())
    for callers in callerCounts { figures["set\(callers)", default: []].append(try await setIfAbsent(callers: callers)) }
    figures["reads", default: []].append(try await reads())
    let line = ["raw"] .map { "C loop \(Int(figures[$0]!.last!))/s" }
        + callerCounts.map { "set-if-absent×\($0) \(Int(figures["set\($0)"]!.last!))/s" } + ["reads \(Int(figures["reads"]!.last!))/s"]
    print("round \(round): " + line.joined(separator: ", "))
}
let rawMedian = median(figures["raw"]!)
print("\nmedians over \(rounds) rounds (durable, fsynced commits):")
print("  C loop, 100 puts per transaction:   \(Int(rawMedian)) puts/s")
for callers in callerCounts {
    let rate = median(figures["set\(callers)"]!)
    print("  set-if-absent, \(callers) callers:".padding(toLength: 38, withPad: " ", startingAt: 0)
        + "\(Int(rate)) /s  (\(String(format: "%.2f", rate / rawMedian)) of the C loop)")
}
print("  reads (value(at:)), \(ProcessInfo.processInfo.activeProcessorCount) tasks:".padding(toLength: 38, withPad: " ", startingAt: 0)
    + "\(Int(median(figures["reads"]!))) /s")
