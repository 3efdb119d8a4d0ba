#if canImport(Glibc)
import Glibc
#endif

/// Checks an environment's data file with plain reads, before LMDB maps it and follows the
/// page numbers in it: LMDB trusts its file, and a damaged one crashes the process that maps it
/// (a truncated file with SIGBUS when a page past its end is touched, garbage pages with
/// SIGSEGV when a page number or offset in them is followed). A damaged store is a typed error
/// (``LMDBError/Code/invalidFile``) instead, and nothing is written to it.
///
/// Two checks: ``checkSize(of:)``, before the file is mapped, reads the two meta pages and
/// checks that the file holds every page the newer one counts; ``checkPages(of:meta:)``, in a
/// read transaction (which keeps the snapshot's pages from being reused by writers of other
/// processes meanwhile), walks every tree from that snapshot's roots (the free list, the main
/// database and each named database), checking each page's header and every node's offsets,
/// sizes and page numbers, and that no page is reached twice. The page layout is LMDB 0.9's on
/// a 64-bit machine (`mdb.c`).
enum LMDBFileCheck {
    /// What the newer meta page says.
    struct Meta {
        var pageSize: Int
        var lastPage: UInt64
        var transaction: UInt64
        var freeRoot: Tree
        var mainRoot: Tree
    }

    /// A tree's root page and depth (`MDB_db`).
    struct Tree {
        var root: UInt64
        var depth: Int
    }

    private static let headerSize = 16
    private static let nodeHeaderSize = 8
    private static let metaMagic: UInt32 = 0xBEEF_C0DE
    private static let invalidPage = UInt64.max
    private static let branch: UInt16 = 0x01, leaf: UInt16 = 0x02, overflow: UInt16 = 0x04, metaFlag: UInt16 = 0x08
    private static let leaf2: UInt16 = 0x20
    private static let bigData: UInt16 = 0x01, subData: UInt16 = 0x02, dupData: UInt16 = 0x04

    /// Reads the meta pages of `dataFile` and checks the file's size against the newer one;
    /// `nil` when there is no file yet (or an empty one: LMDB makes it).
    static func checkSize(of dataFile: String) throws(LMDBError) -> Meta? {
        let file = open(dataFile, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else {
            if errno == ENOENT { return nil }
            throw LMDBError(.system, "cannot read \(dataFile): \(String(cString: strerror(errno)))")
        }
        defer { close(file) }
        let reader = PageReader(file: file, path: dataFile)
        // Meta page 0 says the page size (in its free database's pad field).
        let first = try reader.read(at: 0, count: 256)
        if first.isEmpty { return nil }
        guard first.count >= 256, UInt32(little: first, at: headerSize) == metaMagic else {
            throw damaged(dataFile, "it does not start with an LMDB meta page")
        }
        let pageSize = Int(UInt32(little: first, at: headerSize + 24))
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else {
            throw damaged(dataFile, "its meta page gives a page size of \(pageSize)")
        }
        var metas: [Meta] = []
        for page in 0..<2 {
            let bytes = try reader.read(at: page * pageSize, count: headerSize + 136)
            guard bytes.count == headerSize + 136 else { throw damaged(dataFile, "it ends inside its meta pages") }
            if let meta = meta(bytes, pageSize: pageSize) { metas.append(meta) }
        }
        guard let newest = metas.max(by: { $0.transaction < $1.transaction }) else {
            throw damaged(dataFile, "neither of its meta pages is valid")
        }
        let size = try reader.size()
        let needed = (newest.lastPage + 1).multipliedReportingOverflow(by: UInt64(pageSize))
        guard !needed.overflow, UInt64(size) >= needed.partialValue else {
            throw damaged(
                dataFile, "it holds \(size / pageSize) pages of \(pageSize) bytes, but its meta page counts \(newest.lastPage + 1) (truncated?)")
        }
        return newest
    }

    /// Walks every tree of the snapshot whose meta page is the one with transaction id
    /// `transaction` (the read transaction the caller holds), checking each page.
    static func checkPages(of dataFile: String, transaction: UInt64) throws(LMDBError) {
        let file = open(dataFile, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { throw LMDBError(.system, "cannot read \(dataFile): \(String(cString: strerror(errno)))") }
        defer { close(file) }
        let reader = PageReader(file: file, path: dataFile)
        guard let probe = try? reader.read(at: 0, count: 256), probe.count == 256 else { throw damaged(dataFile, "its meta page cannot be read") }
        let pageSize = Int(UInt32(little: probe, at: headerSize + 24))
        var snapshot: Meta?
        for page in 0..<2 {
            let bytes = try reader.read(at: page * pageSize, count: headerSize + 136)
            if let meta = meta(bytes, pageSize: pageSize), meta.transaction == transaction { snapshot = meta }
        }
        guard let snapshot else { throw damaged(dataFile, "no meta page is that of its latest transaction (\(transaction))") }
        var walker = Walker(reader: reader, pageSize: pageSize, lastPage: snapshot.lastPage, path: dataFile)
        try walker.walk(snapshot.freeRoot, named: "the free-page list", holdsDatabases: false)
        try walker.walk(snapshot.mainRoot, named: "the main database", holdsDatabases: true)
    }

    /// The meta fields of a meta page, or `nil` when it is not one.
    private static func meta(_ bytes: [UInt8], pageSize: Int) -> Meta? {
        guard bytes.count >= headerSize + 136, UInt16(little: bytes, at: 10) & metaFlag != 0,
            UInt32(little: bytes, at: headerSize) == metaMagic
        else { return nil }
        func tree(at offset: Int) -> Tree {
            Tree(root: UInt64(little: bytes, at: headerSize + offset + 40), depth: Int(UInt16(little: bytes, at: headerSize + offset + 6)))
        }
        return Meta(
            pageSize: pageSize, lastPage: UInt64(little: bytes, at: headerSize + 120), transaction: UInt64(little: bytes, at: headerSize + 128),
            freeRoot: tree(at: 24), mainRoot: tree(at: 72))
    }

    static func damaged(_ path: String, _ what: String) -> LMDBError {
        LMDBError(.invalidFile, "\(path) is damaged: \(what); restore it from a backup or start a new store")
    }

    /// Reads pages of the data file.
    struct PageReader {
        let file: Int32
        let path: String

        func read(at offset: Int, count: Int) throws(LMDBError) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = bytes.withUnsafeMutableBytes { pread(file, $0.baseAddress! + done, count - done, off_t(offset + done)) }
                if got < 0 && errno == EINTR { continue }
                guard got >= 0 else { throw LMDBError(.system, "cannot read \(path): \(String(cString: strerror(errno)))") }
                if got == 0 { break }
                done += got
            }
            return Array(bytes.prefix(done))
        }

        func size() throws(LMDBError) -> Int {
            var info = stat()
            guard fstat(file, &info) == 0 else { throw LMDBError(.system, "cannot examine \(path): \(String(cString: strerror(errno)))") }
            return Int(info.st_size)
        }
    }

    /// Walks trees, page by page.
    struct Walker {
        let reader: PageReader
        let pageSize: Int
        let lastPage: UInt64
        let path: String
        /// Pages reached so far (the meta pages from the start).
        var reached: Set<UInt64> = [0, 1]

        init(reader: PageReader, pageSize: Int, lastPage: UInt64, path: String) {
            self.reader = reader
            self.pageSize = pageSize
            self.lastPage = lastPage
            self.path = path
        }

        mutating func walk(_ tree: Tree, named name: String, holdsDatabases: Bool) throws(LMDBError) {
            guard tree.root != invalidPage else { return }
            guard tree.depth >= 1, tree.depth <= 64 else { throw damaged(path, "\(name) has a depth of \(tree.depth)") }
            var pending: [(page: UInt64, level: Int)] = [(tree.root, 1)]
            while let (number, level) = pending.popLast() {
                let page = try claim(number, in: name)
                let flags = UInt16(little: page, at: 10)
                let kind = flags & (branch | leaf | overflow | metaFlag)
                guard kind == branch || kind == leaf, flags & leaf2 == 0 else {
                    throw damaged(path, "page \(number) of \(name) has flags \(String(flags, radix: 16))")
                }
                let lower = Int(UInt16(little: page, at: 12)), upper = Int(UInt16(little: page, at: 14))
                guard lower >= headerSize, lower <= upper, upper <= pageSize, (lower - headerSize) % 2 == 0 else {
                    throw damaged(path, "page \(number) of \(name) has bounds \(lower)…\(upper)")
                }
                let count = (lower - headerSize) / 2
                if kind == branch {
                    guard count >= 1, level < tree.depth else { throw damaged(path, "branch page \(number) of \(name) is out of place") }
                } else if level != tree.depth {
                    throw damaged(path, "leaf page \(number) of \(name) is at level \(level) of \(tree.depth)")
                }
                for index in 0..<count {
                    let offset = Int(UInt16(little: page, at: headerSize + 2 * index))
                    guard offset >= upper, offset % 2 == 0, offset + nodeHeaderSize <= pageSize else {
                        throw damaged(path, "a node of page \(number) of \(name) is at offset \(offset)")
                    }
                    let low = UInt64(UInt16(little: page, at: offset)), high = UInt64(UInt16(little: page, at: offset + 2))
                    let nodeFlags = UInt16(little: page, at: offset + 4)
                    let keyEnd = offset + nodeHeaderSize + Int(UInt16(little: page, at: offset + 6))
                    guard keyEnd <= pageSize else { throw damaged(path, "a key of page \(number) of \(name) runs past the page") }
                    if kind == branch {
                        pending.append((low | high << 16 | UInt64(nodeFlags) << 32, level + 1))
                        continue
                    }
                    let size = Int(low | high << 16)
                    guard nodeFlags & dupData == 0 else { throw damaged(path, "page \(number) of \(name) holds duplicate data") }
                    if nodeFlags & bigData != 0 {
                        guard keyEnd + 8 <= pageSize else { throw damaged(path, "a value of page \(number) of \(name) runs past the page") }
                        try overflowPages(UInt64(little: page, at: keyEnd), size: size, in: name)
                        continue
                    }
                    guard keyEnd + size <= pageSize else { throw damaged(path, "a value of page \(number) of \(name) runs past the page") }
                    if nodeFlags & subData != 0 {
                        guard holdsDatabases, size == 48 else { throw damaged(path, "page \(number) of \(name) names a database it cannot hold") }
                        let database = Array(page[keyEnd..<keyEnd + 48])
                        let key = String(decoding: page[offset + nodeHeaderSize..<keyEnd], as: UTF8.self)
                        try walk(
                            Tree(root: UInt64(little: database, at: 40), depth: Int(UInt16(little: database, at: 6))),
                            named: "database \"\(key)\"", holdsDatabases: false)
                    }
                }
            }
        }

        /// The page `number`, read and marked as reached; refused when out of range or reached before.
        private mutating func claim(_ number: UInt64, in name: String) throws(LMDBError) -> [UInt8] {
            guard number >= 2, number <= lastPage else { throw damaged(path, "\(name) points to page \(number) of \(lastPage + 1)") }
            guard reached.insert(number).inserted else { throw damaged(path, "page \(number) is reached twice (from \(name))") }
            let page = try reader.read(at: Int(number) * pageSize, count: pageSize)
            guard page.count == pageSize else { throw damaged(path, "page \(number) is past the end of the file") }
            guard UInt64(little: page, at: 0) == number else {
                throw damaged(path, "page \(number) of \(name) says it is page \(UInt64(little: page, at: 0))")
            }
            return page
        }

        /// Checks the overflow pages of a value of `size` bytes starting at `first`.
        private mutating func overflowPages(_ first: UInt64, size: Int, in name: String) throws(LMDBError) {
            let page = try claim(first, in: name)
            let pages = UInt64(UInt32(little: page, at: 12))
            guard UInt16(little: page, at: 10) & overflow != 0, pages >= 1, first + pages - 1 <= lastPage,
                UInt64(size) <= pages * UInt64(pageSize) - UInt64(headerSize)
            else { throw damaged(path, "the overflow pages at \(first) of \(name) are not") }
            for next in first + 1..<first + pages where !reached.insert(next).inserted {
                throw damaged(path, "page \(next) is reached twice (an overflow page of \(name))")
            }
        }
    }
}

extension FixedWidthInteger {
    /// The little-endian value at `offset` of `bytes` (which must hold it).
    init(little bytes: [UInt8], at offset: Int) {
        var value: Self = 0
        for index in 0..<MemoryLayout<Self>.size { value |= Self(truncatingIfNeeded: bytes[offset + index]) << (8 * index) }
        self = value
    }
}
