import Foundation
import Testing
import Weft
@testable import WeftLMDB

@Suite("LMDB state store shared by processes: races and crashes")
struct LMDBProcessTests {
    @Test("Processes racing on set-if-absent and add-to-set: exactly one winner per key, every size once")
    func racesAcrossProcesses() async throws {
        let directory = TemporaryDirectory()
        let (processCount, keys) = (4, 200)
        let children = try (0..<processCount).map { try ChildProcess(["race", directory.path, "p\($0)", "\(keys)"]) }
        // Every child has the environment open before any of them starts.
        for child in children {
            while let line = await child.nextLine(), line != "ready" {}
        }
        for child in children { child.send("go") }
        var won = [Int](repeating: 0, count: keys)
        var sizes = [[Int]](repeating: [], count: keys)
        for child in children {
            while let line = await child.nextLine() {
                let parts = line.split(separator: " ")
                guard parts.count == 4, parts[0] == "key", let key = Int(parts[1]), let size = Int(parts[3]) else { continue }
                if parts[2] == "won" { won[key] += 1 }
                sizes[key].append(size)
            }
            #expect(await child.exitStatus() == 0)
        }
        #expect(won.allSatisfy { $0 == 1 }, "winners per key: \(won)")
        // Each process's addition saw the set's size right after it: 1…N, each exactly once.
        #expect(sizes.allSatisfy { $0.sorted() == Array(1...processCount) }, "sizes: \(sizes.prefix(5))")

        let store = try LMDBStateStore(LMDBConfiguration(path: directory.path))
        for key in 0..<keys {
            let members = try await store.coordinationStore.members(of: StoreKey(run: "race", name: "set-\(key)"))
            #expect(members.count == processCount)
            let value = try await store.coordinationStore.value(at: StoreKey(run: "race", name: "value-\(key)"))
            #expect(value.map { members.contains(String(decoding: $0, as: UTF8.self)) } == true)
        }
        store.close()
    }

    @Test("A writer killed with SIGKILL mid-write: every write it was told was durable is there, and the store opens cleanly")
    func crashDurability() async throws {
        let directory = TemporaryDirectory()
        let child = try ChildProcess(["write", directory.path])
        var acknowledged: [Int] = []
        while let line = await child.nextLine() {
            guard let index = Int(line) else { continue }
            acknowledged.append(index)
            if acknowledged.count == 3_000 { child.kill() }
        }
        // Lines already in the pipe when it died were acknowledged too: all of them count.
        #expect(await child.exitStatus() == SIGKILL)
        #expect(acknowledged.count >= 3_000)

        let store = try LMDBStateStore(LMDBConfiguration(path: directory.path))
        let keys = acknowledged.map { StoreKey(run: "crash-\($0 / 10)", name: "record-\($0 % 10)") }
        let values = try await store.coordinationStore.values(at: keys)
        let missing = zip(acknowledged, values).filter { index, value in value != Array("value-\(index)".utf8) }.map(\.0)
        #expect(missing.isEmpty, "\(missing.count) acknowledged writes are missing, such as \(missing.prefix(5))")
        for index in acknowledged where index % 10 == 0 {
            let written = try await store.contextStore.value(forKey: "written", run: "crash-\(index / 10)")
            #expect(written == .int(Int64(index)))
        }
        // The environment is whole: it takes new writes.
        let outcome = try await store.coordinationStore.setIfAbsent(StoreKey(run: "after", name: "crash"), [1], fence: nil)
        #expect(outcome == .stored)
        store.close()
    }

    @Test("A process killed with SIGKILL while applying batches leaves each batch whole or absent, the acknowledged ones whole")
    func crashAtomicBatches() async throws {
        let directory = TemporaryDirectory()
        let child = try ChildProcess(["batches", directory.path])
        var acknowledged: [Int] = []
        while let line = await child.nextLine() {
            guard let index = Int(line) else { continue }
            acknowledged.append(index)
            if acknowledged.count == 2_000 { child.kill() }
        }
        #expect(await child.exitStatus() == SIGKILL)
        let store = try LMDBStateStore(LMDBConfiguration(path: directory.path))
        let coordination = store.coordinationStore
        let members = Set(try await coordination.members(of: StoreKey(run: "batches-b", name: "s")).compactMap { Int($0) })
        let highest = (members.max() ?? 0) + 64
        let values = try await coordination.values(at: (0...highest).map { StoreKey(run: "batches-a", name: "k\($0)") })
        var torn: [Int] = []
        for index in 0...highest {
            let counter = try await coordination.increment(StoreKey(run: "batches-b", name: "c\(index)"), by: 0)
            let parts = [values[index] != nil, members.contains(index), counter == 1]
            if !(parts.allSatisfy { $0 } || parts.allSatisfy { !$0 }) { torn.append(index) }
        }
        #expect(torn.isEmpty, "\(torn.count) batches left in part, such as \(torn.prefix(5))")
        let lost = acknowledged.filter { !members.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) acknowledged batches are missing, such as \(lost.prefix(5))")
        store.close()
    }
}
