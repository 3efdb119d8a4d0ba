/// Where an LMDB environment lives and how it is opened.
public struct LMDBConfiguration: Sendable, Hashable {
    /// How commits reach the disk.
    public enum SyncMode: String, Sendable, Hashable {
        /// Every commit is fsynced before its writers are resumed: an acknowledged write survives
        /// a power loss. The default.
        case durable
        /// Commits are not fsynced (`MDB_NOSYNC`): much faster, and safe against a process
        /// crash, but a power loss or a kernel crash loses the last commits (the environment
        /// itself stays consistent).
        case fast
    }

    /// The directory of the environment (`data.mdb`, `lock.mdb`); created when missing.
    public var path: String
    /// The map size to start with, in bytes. LMDB reserves address space, not disk: the file
    /// grows as data does. Default 1 GiB.
    public var mapSize: Int
    /// The largest the map may grow to when it fills up; beyond it, writes fail with
    /// `LMDBError.mapFull`. Default 64 GiB.
    public var maxMapSize: Int
    /// How many threads of all processes may read at once. Default 512.
    public var maxReaders: Int
    /// How commits reach the disk. Default `.durable`.
    public var syncMode: SyncMode
    /// The most writes one transaction (one fsync) takes. Default 1,024.
    public var maxBatch: Int

    /// Creates a configuration; every member but the path has a default.
    public init(
        path: String, mapSize: Int = 1 << 30, maxMapSize: Int = 64 << 30, maxReaders: Int = 512,
        syncMode: SyncMode = .durable, maxBatch: Int = 1024
    ) {
        self.path = path
        self.mapSize = mapSize
        self.maxMapSize = max(mapSize, maxMapSize)
        self.maxReaders = maxReaders
        self.syncMode = syncMode
        self.maxBatch = max(1, maxBatch)
    }
}
