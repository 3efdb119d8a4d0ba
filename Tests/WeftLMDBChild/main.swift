// A child process for the LMDB tests: it opens the state store another process also has open,
// and races it or writes until it is killed. Its stdout is its report, one line per event.
//
//   weft-lmdb-child race <path> <id> <keys>   set-if-absent and add-to-set on shared keys, after
//                                             "go" on stdin; prints "key <k> <won|lost> <size>"
//   weft-lmdb-child write <path>              writes until killed; prints each key once its
//                                             write is durable
//   weft-lmdb-child batches <path>            applies batches of three writes across two runs
//                                             until killed; prints each batch's index once it
//                                             is durable
import Foundation
import Synchronization
import Weft
import WeftLMDB

let output = Mutex(())

func report(_ line: String) {
    output.withLock { _ in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: weft-lmdb-child race|write <path> …\n".utf8))
    exit(2)
}
let store = try LMDBStateStore(LMDBConfiguration(path: arguments[2]))
let coordination = store.coordinationStore

switch arguments[1] {
case "race":
    let id = arguments[3]
    let keys = Int(arguments[4]) ?? 100
    report("ready")
    _ = readLine()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<keys {
            group.addTask {
                let outcome = try await coordination.setIfAbsent(
                    StoreKey(run: "race", name: "value-\(index)"), Array(id.utf8), fence: nil)
                let size = try await coordination.addToSet(StoreKey(run: "race", name: "set-\(index)"), member: id)
                report("key \(index) \(outcome == .stored ? "won" : "lost") \(size)")
            }
        }
        try await group.waitForAll()
    }
    report("done")
    store.close()

case "write":
    report("ready")
    try await withThrowingTaskGroup(of: Void.self) { group in
        for writer in 0..<16 {
            group.addTask {
                var index = writer
                while true {
                    let key = StoreKey(run: "crash-\(index / 10)", name: "record-\(index % 10)")
                    _ = try await coordination.setIfAbsent(key, Array("value-\(index)".utf8), fence: nil)
                    if index % 10 == 0 {
                        try await store.contextStore.apply(
                            ContextPatch([.init(key: "written", value: .int(Int64(index)))]), run: "crash-\(index / 10)", origin: "o")
                    }
                    report("\(index)")
                    index += 16
                }
            }
        }
        try await group.waitForAll()
    }

case "batches":
    report("ready")
    try await withThrowingTaskGroup(of: Void.self) { group in
        for writer in 0..<16 {
            group.addTask {
                var index = writer
                while true {
                    var batch = StoreBatch()
                    let stored = batch.setIfAbsent(StoreKey(run: "batches-a", name: "k\(index)"), [1])
                    batch.addToSet(StoreKey(run: "batches-b", name: "s"), member: "\(index)", when: [.stored(stored)])
                    batch.increment(StoreKey(run: "batches-b", name: "c\(index)"), by: 1, when: [.stored(stored)])
                    _ = try await coordination.apply(batch)
                    report("\(index)")
                    index += 16
                }
            }
        }
        try await group.waitForAll()
    }

default:
    FileHandle.standardError.write(Data("unknown mode \(arguments[1])\n".utf8))
    exit(2)
}
