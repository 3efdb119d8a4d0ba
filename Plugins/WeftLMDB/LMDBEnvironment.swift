import CLMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One LMDB environment, shared by every task of this process (and by the other processes of
/// the machine that open the same directory).
///
/// Reads run on the calling thread in a short read-only transaction (never across a suspension
/// point: the closure is synchronous). Writes go to the environment's writer thread, which
/// batches them (group commit) and resumes each writer once its batch is committed (and fsynced,
/// in durable mode). LMDB allows one handle per environment and process: opening the same
/// directory twice in a process is refused.
public final class LMDBEnvironment: Sendable {
    /// The format of the records Weft keeps; an environment written by a newer format is refused.
    public static let formatVersion: UInt32 = 1

    let configuration: LMDBConfiguration
    nonisolated(unsafe) let handle: OpaquePointer
    let databases: [String: LMDBDatabase]
    let canonicalPath: String
    private let mapSize: Atomic<Int>
    private let resizeLock = LMDBReadWriteLock()
    private let writerBox = Mutex<LMDBWriter?>(nil)
    private let closed = Atomic<Bool>(false)

    private static let openPaths = Mutex<Set<String>>([])
    private static let metaDatabase = "weft.meta"
    private static let formatKey = Array("format".utf8)

    /// Opens (creating when missing) the environment in `configuration.path` with the named
    /// databases `names`.
    /// - Throws: ``LMDBError``: `alreadyOpen`, `invalidFile` (a foreign or damaged file),
    ///   `newerFormat`, `system` (permissions, a path that is a file…).
    public init(_ configuration: LMDBConfiguration, databases names: [String]) throws {
        self.configuration = configuration
        // Created with its missing parents.
        var prefix = configuration.path.hasPrefix("/") ? "" : "."
        for component in configuration.path.split(separator: "/") {
            prefix += "/" + component
            // The store holds every run's inputs and outputs: its directories and files are
            // its owner's alone.
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw LMDBError(.system, "cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        guard let resolved = realpath(configuration.path, nil) else {
            throw LMDBError(.system, "cannot resolve \(configuration.path): \(String(cString: strerror(errno)))")
        }
        canonicalPath = String(cString: resolved)
        free(resolved)
        let path = canonicalPath
        guard Self.openPaths.withLock({ $0.insert(path).inserted }) else {
            throw LMDBError(.alreadyOpen, "\(path) is already open in this process; share the one LMDBEnvironment")
        }
        // A damaged file is refused before LMDB maps it (it would crash the process).
        let existing: LMDBFileCheck.Meta?
        do {
            existing = try LMDBFileCheck.checkSize(of: path + "/data.mdb")
        } catch {
            Self.openPaths.withLock { _ = $0.remove(path) }
            throw error
        }
        var environment: OpaquePointer?
        var status = mdb_env_create(&environment)
        guard status == 0, let environment else {
            Self.openPaths.withLock { _ = $0.remove(path) }
            throw LMDBError.status(status, "creating an environment")
        }
        handle = environment
        mapSize = Atomic(configuration.mapSize)
        do {
            status = mdb_env_set_mapsize(environment, configuration.mapSize)
            guard status == 0 else { throw LMDBError.status(status, "setting the map size") }
            status = mdb_env_set_maxreaders(environment, UInt32(configuration.maxReaders))
            guard status == 0 else { throw LMDBError.status(status, "setting the readers") }
            status = mdb_env_set_maxdbs(environment, UInt32(names.count + 1))
            guard status == 0 else { throw LMDBError.status(status, "setting the databases") }
            var flags = UInt32(MDB_NOTLS)
            if configuration.syncMode == .fast { flags |= UInt32(MDB_NOSYNC) }
            status = mdb_env_open(environment, path, flags, 0o600)
            guard status == 0 else { throw LMDBError.status(status, "opening \(path)") }
            if existing != nil { try Self.checkPages(environment, path: path) }
            // Adopt a map another process grew beyond the configured size.
            var info = MDB_envinfo()
            mdb_env_info(environment, &info)
            mapSize.store(max(configuration.mapSize, info.me_mapsize), ordering: .relaxed)
            databases = try Self.openDatabases(environment, names: names + [Self.metaDatabase], path: path)
        } catch {
            mdb_env_close(environment)
            Self.openPaths.withLock { _ = $0.remove(path) }
            throw error
        }
        writerBox.withLock { $0 = LMDBWriter(environment: self) }
    }

    deinit {
        if !closed.load(ordering: .relaxed) {
            mdb_env_close(handle)
            let path = canonicalPath
            Self.openPaths.withLock { _ = $0.remove(path) }
        }
    }

    /// Finishes queued writes, stops the writer thread and closes the environment. Reads and
    /// writes after this fail with `LMDBError.closed`.
    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        writerBox.withLock { $0 }?.stop()
        resizeLock.withWriteLock { mdb_env_close(handle) }
        let path = canonicalPath
        Self.openPaths.withLock { _ = $0.remove(path) }
    }

    /// Drops this process's mappings of the store's pages, as an idle process may to keep its
    /// resident memory small: the pages stay in the operating system's page cache (the map is
    /// read-only and shared, and writes go through the file), and a later read maps them again.
    /// Safe at any time; costs page faults on the reads right after. Linux only.
    ///
    /// - Returns: how many bytes of mappings were released, or `nil` when nothing was (closed,
    ///   not Linux, or the system refused).
    @discardableResult
    public func releaseMappedPages() -> Int? {
        #if os(Linux)
        // LMDB does not say where it mapped the file (`me_mapaddr` is only set for fixed maps):
        // the process's map list does.
        let dataFile = canonicalPath + "/data.mdb"
        // Under the resize lock from reading the map list on: a map that moved in between
        // would have its old addresses reused by other memory, which must not be released.
        return resizeLock.withReadLock {
            guard !closed.load(ordering: .relaxed), let maps = Self.readFile("/proc/self/maps") else { return nil }
            var released = 0
            for line in maps.split(separator: "\n") where line.hasSuffix(dataFile) {
                let range = line.prefix { $0 != " " }.split(separator: "-")
                guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start,
                    let address = UnsafeMutableRawPointer(bitPattern: start)
                else { continue }
                if madvise(address, Int(end - start), MADV_DONTNEED) == 0 { released += Int(end - start) }
            }
            return released > 0 ? released : nil
        }
        #else
        return nil
        #endif
    }

    #if os(Linux)
    /// The whole of a (small, procfs) file, or `nil`.
    private static func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { _ = Glibc.close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }
    #endif

    // MARK: Reading and writing

    /// Runs `body` in a read-only transaction on this thread.
    func read<Value>(_ body: (LMDBTransaction) throws -> Value) throws -> Value {
        try resizeLock.withReadLock {
            guard !closed.load(ordering: .relaxed) else { throw LMDBError(.closed, "The LMDB environment is closed") }
            var transaction: OpaquePointer?
            var status = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &transaction)
            if status == MDB_MAP_RESIZED {
                // Another process grew the map: adopt its size (no transaction of ours is open).
                mdb_env_set_mapsize(handle, 0)
                status = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &transaction)
            }
            guard status == 0, let transaction else { throw LMDBError.status(status, "starting a read") }
            defer { mdb_txn_abort(transaction) }
            return try body(LMDBTransaction(pointer: transaction))
        }
    }

    /// Runs `body` on the writer thread, in the next group commit, and returns its value once
    /// the commit is durable. When `body` throws, its writes are undone (the batch's others are
    /// not) and the error is rethrown here. `body` may run more than once (when another write of
    /// its batch fails or the map grows): it must act only through the transaction.
    @discardableResult
    func write<Value: Sendable>(_ body: @escaping @Sendable (LMDBTransaction) throws -> Value) async throws -> Value {
        guard let writer = writerBox.withLock({ $0 }), !closed.load(ordering: .relaxed) else {
            throw LMDBError(.closed, "The LMDB environment is closed")
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, Error>) in
            writer.submit(LMDBWriter.Request(
                run: { transaction in
                    let value = try body(transaction)
                    return { continuation.resume(returning: value) }
                },
                fail: { continuation.resume(throwing: $0) }))
        }
    }

    /// The database named `name` (one of those given when opening).
    func database(_ name: String) -> LMDBDatabase {
        guard let database = databases[name] else { preconditionFailure("database \(name) was not opened") }
        return database
    }

    // MARK: For the writer

    /// Begins the write transaction of a batch (adopting a map grown by another process).
    func beginWrite(_ transaction: inout OpaquePointer?) -> Int32 {
        var status = mdb_txn_begin(handle, nil, 0, &transaction)
        if status == MDB_MAP_RESIZED {
            resizeLock.withWriteLock { _ = mdb_env_set_mapsize(handle, 0) }
            status = mdb_txn_begin(handle, nil, 0, &transaction)
        }
        return status
    }

    /// Doubles the map, up to `maxMapSize`; returns the error when it may not grow.
    func grow() -> LMDBError? {
        let current = mapSize.load(ordering: .relaxed)
        guard current < configuration.maxMapSize else {
            return LMDBError(
                .mapFull, "the store at \(canonicalPath) is full at its largest map size (\(current) bytes); raise maxMapSize")
        }
        let next = min(configuration.maxMapSize, current * 2)
        let status = resizeLock.withWriteLock { mdb_env_set_mapsize(handle, next) }
        guard status == 0 else { return LMDBError.status(status, "growing the map to \(next) bytes") }
        mapSize.store(next, ordering: .relaxed)
        return nil
    }

    // MARK: Inspection

    /// Sizes and counts of the environment.
    public struct Statistics: Sendable, Hashable {
        /// The map size, in bytes.
        public var mapSize: Int
        /// The bytes in use (pages used × page size).
        public var usedBytes: Int
        /// Entries per database.
        public var entries: [String: Int]
    }

    /// Sizes and counts of the environment now.
    public func statistics() throws -> Statistics {
        try read { transaction in
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            var environmentStat = MDB_stat()
            mdb_env_stat(handle, &environmentStat)
            var entries: [String: Int] = [:]
            for (name, database) in databases where name != Self.metaDatabase {
                var stat = MDB_stat()
                mdb_stat(transaction.pointer, database.handle, &stat)
                entries[name] = stat.ms_entries
            }
            return Statistics(
                mapSize: info.me_mapsize, usedBytes: (info.me_last_pgno + 1) * Int(environmentStat.ms_psize), entries: entries)
        }
    }

    // MARK: Opening

    /// Walks the pages of the latest snapshot (``LMDBFileCheck/checkPages(of:transaction:)``)
    /// in a read transaction, which keeps writers of other processes from reusing them meanwhile.
    private static func checkPages(_ environment: OpaquePointer, path: String) throws {
        var transaction: OpaquePointer?
        let status = mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction)
        guard status == 0, let transaction else { throw LMDBError.status(status, "opening \(path)") }
        defer { mdb_txn_abort(transaction) }
        try LMDBFileCheck.checkPages(of: path + "/data.mdb", transaction: UInt64(mdb_txn_id(transaction)))
    }

    private static func openDatabases(_ environment: OpaquePointer, names: [String], path: String) throws -> [String: LMDBDatabase] {
        var transaction: OpaquePointer?
        var status = mdb_txn_begin(environment, nil, 0, &transaction)
        guard status == 0, let transaction else { throw LMDBError.status(status, "opening \(path)") }
        var databases: [String: LMDBDatabase] = [:]
        do {
            for name in names {
                var handle = MDB_dbi()
                status = mdb_dbi_open(transaction, name, UInt32(MDB_CREATE), &handle)
                guard status == 0 else { throw LMDBError.status(status, "opening database \(name) in \(path)") }
                databases[name] = LMDBDatabase(name: name, handle: handle)
            }
            let meta = LMDBTransaction(pointer: transaction)
            let database = databases[metaDatabase]!
            if let stored = try meta.get(database, formatKey) {
                guard stored.count == 4 else {
                    throw LMDBError(.invalidFile, "\(path) holds a Weft format marker that is not one")
                }
                let version = stored.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
                guard version <= formatVersion else {
                    throw LMDBError(
                        .newerFormat,
                        "\(path) was written by a newer Weft (format \(version); this one reads up to \(formatVersion))")
                }
            } else {
                try meta.put(database, formatKey, withUnsafeBytes(of: formatVersion.littleEndian) { Array($0) })
            }
            status = mdb_txn_commit(transaction)
            guard status == 0 else { throw LMDBError.status(status, "opening \(path)") }
        } catch {
            mdb_txn_abort(transaction)
            throw error
        }
        return databases
    }
}

/// A pthread read-write lock: reads share it, growing the map takes it alone (LMDB may resize
/// only when no transaction of the process is open).
final class LMDBReadWriteLock: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init() { pthread_rwlock_init(lock, nil) }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func withReadLock<Value>(_ body: () throws -> Value) rethrows -> Value {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func withWriteLock<Value>(_ body: () throws -> Value) rethrows -> Value {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
