import Synchronization
import Testing
import Weft
@testable import WeftLMDB

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp, removed at the end of the test.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() {
        var template = Array("/tmp/weft-lmdb-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    deinit { _ = system("rm -rf '\(path)'") }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("LMDB environment: group commit, durability, growth, bad files")
struct LMDBEnvironmentTests {
    /// Issue 24, case 4: the store's files were created 0644, readable by every local user.
    @Test("A new store's files are readable by their owner alone, and so are the directories Weft creates")
    func ownerOnlyFiles() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/fleet/store"
        let environment = try LMDBEnvironment(LMDBConfiguration(path: path), databases: ["items"])
        _ = environment
        func mode(_ file: String) -> mode_t {
            var status = stat()
            #expect(stat(file, &status) == 0, "\(file)")
            return status.st_mode & 0o777
        }
        #expect(mode(path + "/data.mdb") == 0o600)
        #expect(mode(path + "/lock.mdb") == 0o600)
        #expect(mode(path) == 0o700)
        #expect(mode(directory.path + "/fleet") == 0o700)
    }

    @Test("Concurrent writes are committed in groups, read back, and still there after reopening")
    func groupCommit() async throws {
        let directory = TemporaryDirectory()
        let environment = try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: ["items"])
        let items = environment.database("items")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask {
                    _ = try await environment.write { transaction in
                        try transaction.put(items, bytes("key-\(index)"), bytes("value-\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try environment.read { try $0.get(items, bytes("key-42")) } == bytes("value-42"))
        #expect(try environment.statistics().entries["items"] == 500)
        environment.close()

        let reopened = try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: ["items"])
        let keys = try reopened.read { transaction in
            var keys: [[UInt8]] = []
            try transaction.scan(reopened.database("items"), prefix: bytes("key-")) { key, _ in
                keys.append(key)
                return true
            }
            return keys
        }
        #expect(keys.count == 500)
        reopened.close()
    }

    @Test("An idle process can drop its mappings of the store's pages; every value reads back after")
    func releaseMappedPages() async throws {
        let directory = TemporaryDirectory()
        let environment = try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: ["items"])
        let items = environment.database("items")
        let value = [UInt8](repeating: 7, count: 1000)
        for batch in 0..<8 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        _ = try await environment.write { try $0.put(items, bytes("key-\(batch)-\(index)"), value) }
                    }
                }
                try await group.waitForAll()
            }
        }
        func readAll() throws -> Int {
            try environment.read { transaction in
                var found = 0
                for batch in 0..<8 {
                    for index in 0..<500 where try transaction.get(items, bytes("key-\(batch)-\(index)")) == value { found += 1 }
                }
                return found
            }
        }
        #expect(try readAll() == 4000)
        let mappedBefore = residentKilobytes(of: directory.path + "/data.mdb")
        #expect(mappedBefore > 1000)  // ~4 MB of values were read through the map
        let released = try #require(environment.releaseMappedPages())
        #expect(released >= mappedBefore * 1024)
        #expect(residentKilobytes(of: directory.path + "/data.mdb") < mappedBefore / 4)
        #expect(try readAll() == 4000)
        environment.close()
    }

    @Test("Racing set-if-absent writers: exactly one wins")
    func oneWinner() async throws {
        let directory = TemporaryDirectory()
        let environment = try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: ["items"])
        let items = environment.database("items")
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await environment.write { try $0.put(items, bytes("the-key"), bytes("writer-\(index)"), onlyIfAbsent: true) }
                }
            }
            var winners = 0
            for try await won in group where won { winners += 1 }
            return winners
        }
        #expect(winners == 1)
        environment.close()
    }

    @Test("A write that fails is undone; the others of its batch commit")
    func failedWriteIsUndone() async throws {
        struct Refused: Error {}
        let directory = TemporaryDirectory()
        let environment = try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: ["items"])
        let items = environment.database("items")
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask {
                    do {
                        try await environment.write { transaction in
                            try transaction.put(items, bytes("k\(index)"), bytes("v"))
                            if index % 2 == 1 { throw Refused() }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var succeeded = 0
            for await outcome in group where outcome { succeeded += 1 }
            return succeeded
        }
        #expect(outcomes == 25)
        #expect(try environment.statistics().entries["items"] == 25)
        #expect(try environment.read { try $0.get(items, bytes("k1")) } == nil)
        #expect(try environment.read { try $0.get(items, bytes("k2")) } == bytes("v"))
        environment.close()
    }

    @Test("A full map grows; at its largest, writes fail with mapFull and the store stays usable")
    func mapGrowth() async throws {
        let directory = TemporaryDirectory()
        let configuration = LMDBConfiguration(path: directory.path, mapSize: 1 << 20, maxMapSize: 4 << 20)
        let environment = try LMDBEnvironment(configuration, databases: ["items"])
        let items = environment.database("items")
        let value = [UInt8](repeating: 7, count: 16 * 1024)
        for index in 0..<120 {  // ~2 MiB: more than the first map
            try await environment.write { try $0.put(items, bytes("big-\(index)"), value) }
        }
        #expect(try environment.statistics().mapSize > 1 << 20)
        var failure: LMDBError?
        do {
            for index in 120..<1000 { try await environment.write { try $0.put(items, bytes("big-\(index)"), value) } }
        } catch let error as LMDBError {
            failure = error
        }
        #expect(failure?.code == .mapFull, "\(String(describing: failure))")
        #expect(failure?.message.contains("maxMapSize") == true)
        // What was committed is intact and the environment still reads.
        #expect(try environment.read { try $0.get(items, bytes("big-3")) } == value)
        environment.close()
    }

    @Test("A newer format, a foreign file and a second open give typed errors")
    func badFiles() async throws {
        let directory = TemporaryDirectory()
        let environment = try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: ["items"])
        let again = #expect(throws: LMDBError.self) { try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: []) }
        #expect(again?.code == .alreadyOpen)
        let meta = environment.database("weft.meta")
        try await environment.write { try $0.put(meta, bytes("format"), withUnsafeBytes(of: UInt32(99).littleEndian) { Array($0) }) }
        environment.close()
        let newer = #expect(throws: LMDBError.self) { try LMDBEnvironment(LMDBConfiguration(path: directory.path), databases: []) }
        #expect(newer?.code == .newerFormat)
        #expect(newer?.message.contains("format 99") == true)

        let foreign = TemporaryDirectory()
        let garbage = [UInt8](repeating: 0x5A, count: 64 * 1024)
        let file = fopen("\(foreign.path)/data.mdb", "w")
        _ = garbage.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        let invalid = #expect(throws: LMDBError.self) { try LMDBEnvironment(LMDBConfiguration(path: foreign.path), databases: []) }
        #expect(invalid?.code == .invalidFile, "\(String(describing: invalid))")
    }
}

/// How many kilobytes of this process's mappings of `path` are resident (from /proc/self/smaps).
func residentKilobytes(of path: String) -> Int {
    guard let file = fopen("/proc/self/smaps", "r") else { return 0 }
    defer { fclose(file) }
    var total = 0
    var inside = false
    var line: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0, let line {
        let text = String(cString: line).trimmingSuffix()
        if let first = text.first, first.isHexDigit, text.contains("-") && text.split(separator: " ").count >= 5 {
            inside = text.hasSuffix(path)
        } else if inside, text.hasPrefix("Rss:") {
            total += Int(text.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
    }
    return total
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }

    @Test("A key longer than LMDB allows is a typed error that says retrying cannot fix it")
    func keyTooLarge() async throws {
        let directory = TemporaryDirectory()
        let store = try LMDBStateStore(LMDBConfiguration(path: directory.path))
        let error = await #expect(throws: LMDBError.self) {
            _ = try await store.coordinationStore.setIfAbsent(StoreKey(run: String(repeating: "r", count: 600), name: "status"), [1], fence: nil)
        }
        #expect(error?.code == .keyTooLarge)
        #expect(error?.isPermanent == true)
        #expect(LMDBError(.mapFull, "full").isPermanent == false)
        store.close()
    }

    /// A store of a few thousand records, closed: its data file spans hundreds of pages.
    static func filledStore(_ path: String) async throws {
        let store = try LMDBStateStore(LMDBConfiguration(path: path))
        for index in 0..<3000 {
            _ = try await store.coordinationStore.setIfAbsent(
                StoreKey(run: "run-\(index % 50)", name: "r\(index)"), [UInt8](repeating: UInt8(index % 251), count: 300), fence: nil)
        }
        _ = try await store.coordinationStore.setIfAbsent(StoreKey(run: "big", name: "value"), [UInt8](repeating: 7, count: 20_000), fence: nil)
        store.close()
    }

    static func damage(_ path: String, _ body: (Int32, Int) -> Void) {
        let file = open("\(path)/data.mdb", O_RDWR)
        var info = stat()
        fstat(file, &info)
        body(file, Int(info.st_size))
        close(file)
    }

    @Test("A healthy store passes the checks on open, and reads back")
    func healthyStore() async throws {
        let directory = TemporaryDirectory()
        try await Self.filledStore(directory.path)
        let store = try LMDBStateStore(LMDBConfiguration(path: directory.path))
        #expect(try await store.coordinationStore.value(at: StoreKey(run: "run-7", name: "r7")) == [UInt8](repeating: 7, count: 300))
        #expect(try await store.coordinationStore.value(at: StoreKey(run: "big", name: "value"))?.count == 20_000)
        store.close()
    }

    @Test("A data file cut to half is refused with invalid_file when opened, instead of crashing the process (SIGBUS)")
    func truncatedFile() async throws {
        let directory = TemporaryDirectory()
        try await Self.filledStore(directory.path)
        Self.damage(directory.path) { file, size in _ = ftruncate(file, off_t(size / 2)) }
        let error = #expect(throws: LMDBError.self) { try LMDBStateStore(LMDBConfiguration(path: directory.path)) }
        #expect(error?.code == .invalidFile)
        #expect(error?.message.contains("truncated") == true, "\(String(describing: error))")
        #expect(error?.isPermanent == true)
        // Nothing was kept open: the path may be opened again (and is refused again).
        #expect(throws: LMDBError.self) { try LMDBStateStore(LMDBConfiguration(path: directory.path)) }
    }

    @Test("A data file with every third page overwritten is refused with invalid_file, instead of crashing a writer (SIGSEGV)")
    func garbagePages() async throws {
        let directory = TemporaryDirectory()
        try await Self.filledStore(directory.path)
        var random = UInt64(0x5EED)
        Self.damage(directory.path) { file, size in
            let pageSize = 4096
            for page in stride(from: 2, to: size / pageSize, by: 3) {
                let garbage = (0..<pageSize).map { _ -> UInt8 in
                    random = random &* 6364136223846793005 &+ 1442695040888963407
                    return UInt8(truncatingIfNeeded: random >> 33)
                }
                _ = garbage.withUnsafeBytes { pwrite(file, $0.baseAddress, pageSize, off_t(page * pageSize)) }
            }
        }
        let error = #expect(throws: LMDBError.self) { try LMDBStateStore(LMDBConfiguration(path: directory.path)) }
        #expect(error?.code == .invalidFile, "\(String(describing: error))")
        #expect(error?.message.contains("is damaged") == true)
    }

    @Test("One page of a named database overwritten is found too, whichever page it is", arguments: [0, 1, 2, 3])
    func oneDamagedPage(seed: Int) async throws {
        let directory = TemporaryDirectory()
        try await Self.filledStore(directory.path)
        let meta = try #require(try LMDBFileCheck.checkSize(of: directory.path + "/data.mdb"))
        Self.damage(directory.path) { file, _ in
            // A page in the upper half of the used ones: a branch or a leaf of the records.
            let page = Int(meta.lastPage) / 2 + seed * Int(meta.lastPage) / 8
            let garbage = [UInt8](repeating: UInt8(0xA5 ^ seed), count: 64)
            _ = garbage.withUnsafeBytes { pwrite(file, $0.baseAddress, 64, off_t(page * meta.pageSize)) }
        }
        // Either the page is live (refused) or it was a free page (the store opens and reads).
        do {
            let store = try LMDBStateStore(LMDBConfiguration(path: directory.path))
            for index in stride(from: 0, to: 3000, by: 7) {
                #expect(try await store.coordinationStore.value(at: StoreKey(run: "run-\(index % 50)", name: "r\(index)"))?.count == 300)
            }
            store.close()
        } catch let error as LMDBError {
            #expect(error.code == .invalidFile)
        }
    }

    @Test("A full disk is named as such, not as an input/output error (on a 1 MiB tmpfs; root mounts it, as CI runs)")
    func diskFull() async throws {
        guard geteuid() == 0 else { return }  // Mounting needs root; CI runs as root.
        let directory = TemporaryDirectory()
        let mountPoint = directory.path + "/tiny"
        mkdir(mountPoint, 0o700)
        try #require(mount("tmpfs", mountPoint, "tmpfs", 0, "size=1m") == 0, "cannot mount a tmpfs: \(String(cString: strerror(errno)))")
        defer { umount(mountPoint) }
        let store = try LMDBStateStore(LMDBConfiguration(path: mountPoint + "/state"))
        var failure: (any Error)?
        for index in 0..<1000 where failure == nil {
            do {
                _ = try await store.coordinationStore.setIfAbsent(
                    StoreKey(run: "run", name: "r\(index)"), [UInt8](repeating: 1, count: 8000), fence: nil)
            } catch {
                failure = error
            }
        }
        let error = try #require(failure as? LMDBError, "\(String(describing: failure))")
        #expect(error.message.contains("is full"), "\(error)")
        store.close()
    }
}

