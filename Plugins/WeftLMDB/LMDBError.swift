import CLMDB
import Weft
#if canImport(Glibc)
import Glibc
#endif

/// An error of the LMDB store: a code a program can match and a message for people.
public struct LMDBError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it was. Extensible: match the codes you handle, treat the rest alike.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The map is full and may not grow further (`maxMapSize`).
        public static let mapFull = Code(name: "map_full")
        /// The file is not an LMDB environment, or it is damaged.
        public static let invalidFile = Code(name: "invalid_file")
        /// The environment was written by a newer Weft (its format version is higher).
        public static let newerFormat = Code(name: "newer_format")
        /// This process already has the environment open (LMDB allows one handle per process).
        public static let alreadyOpen = Code(name: "already_open")
        /// Too many processes and threads read at once (`maxReaders`).
        public static let readersFull = Code(name: "readers_full")
        /// A key is longer than LMDB allows (511 bytes with the run id): a run id or a record
        /// name that long is refused.
        public static let keyTooLarge = Code(name: "key_too_large")
        /// A record the store reads back is not in the form it wrote (a damaged environment).
        public static let corruptRecord = Code(name: "corrupt_record")
        /// The environment was closed.
        public static let closed = Code(name: "closed")
        /// The operating system refused (permissions, disk space, a missing directory).
        public static let system = Code(name: "system")
        /// Any other LMDB failure.
        public static let failed = Code(name: "failed")

        public var description: String { name }
    }

    /// What kind of failure.
    public var code: Code
    /// What happened.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "LMDB \(code): \(message)" }

    /// The error for LMDB return code `status` while doing `what` in the environment at
    /// `directory`: an input/output error or no space left, when the disk holding it is full,
    /// says so (a full disk shows as EIO on a commit).
    static func status(_ status: Int32, _ what: String, directory: String) -> LMDBError {
        var error = Self.status(status, what)
        guard status == EIO || status == ENOSPC, let free = freeBytes(of: directory), free < 1 << 20 else { return error }
        error.message += ": the disk holding \(directory) is full (\(free / 1024) KiB free); free space on it, or move the store"
        return error
    }

    /// The bytes free to this user on the file system holding `path`.
    static func freeBytes(of path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// The error for LMDB return code `status` while doing `what`.
    static func status(_ status: Int32, _ what: String) -> LMDBError {
        let text = String(cString: mdb_strerror(status))
        switch status {
        case MDB_MAP_FULL: return LMDBError(.mapFull, "\(what): the store is full (\(text))")
        case MDB_INVALID, MDB_CORRUPTED, MDB_VERSION_MISMATCH:
            return LMDBError(.invalidFile, "\(what): not a usable LMDB environment (\(text))")
        case MDB_BAD_VALSIZE:
            return LMDBError(.keyTooLarge, "\(what): a key is longer than LMDB's limit of 511 bytes (run id plus record name)")
        case MDB_READERS_FULL: return LMDBError(.readersFull, "\(what): too many readers (\(text)); raise maxReaders")
        default:
            return LMDBError(status > 0 ? .system : .failed, "\(what): \(text)")
        }
    }
}

extension LMDBError: BackendFailure {
    /// Whether retrying cannot help: a key longer than LMDB allows, a damaged or unusable file,
    /// a record not in the form the store wrote, an environment of a newer Weft. A full map, a
    /// full reader table or a system error may pass.
    public var isPermanent: Bool {
        [.keyTooLarge, .invalidFile, .corruptRecord, .newerFormat].contains(code)
    }
}
