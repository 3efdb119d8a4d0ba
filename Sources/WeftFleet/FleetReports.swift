import Foundation

/// What a worker process says of itself, rewritten every second in the fleet's status
/// directory (`<store>/fleet/worker-<pid>.json`) for `weft top` and the foreman.
public struct WorkerReport: Codable, Sendable, Hashable {
    /// A job in hand.
    public struct Job: Codable, Sendable, Hashable {
        public var run: String
        public var node: String
        public var attempt: Int
        /// Seconds in hand.
        public var seconds: Double
    }

    /// The process id.
    public var pid: Int32
    /// `starting`, `running`, `draining`.
    public var state: String
    /// Seconds since 1970.
    public var startedAt: Double
    /// When this report was written, seconds since 1970.
    public var updatedAt: Double
    /// The queues it consumes.
    public var queues: [String]
    /// Jobs it handles at once.
    public var concurrency: Int
    /// The jobs in hand.
    public var jobs: [Job]
    /// Counts of outcomes so far: completed, retries, dropped, deadLettered, quarantined, requeued, left.
    public var counts: [String: Int]
    /// Resident memory, in bytes: private memory plus the pages of shared libraries and of the
    /// store's memory map this process touched (those grow with the store, and are page cache).
    public var residentBytes: Int
    /// Resident anonymous memory (the heap and stacks), in bytes: what a leak would grow.
    public var anonymousBytes: Int = 0
    /// The latest failed attempts, newest last (at most 10).
    public var failures: [Failure] = []

    /// A failed attempt.
    public struct Failure: Codable, Sendable, Hashable {
        /// Seconds since 1970.
        public var at: Double
        public var run: String
        public var node: String
        public var attempt: Int
        public var error: String
    }
}

/// What the foreman says of itself and its workers (`<store>/fleet/foreman.json`).
public struct ForemanReport: Codable, Sendable, Hashable {
    /// One worker slot.
    public struct Slot: Codable, Sendable, Hashable {
        public var index: Int
        /// The process running in it, if any.
        public var pid: Int32?
        /// `running`, `restarting`, `stopping`, `crash-looping`.
        public var state: String
        /// How many times it was restarted after a crash.
        public var restarts: Int
    }

    /// A decision, with its reason.
    public struct Decision: Codable, Sendable, Hashable {
        /// Seconds since 1970.
        public var at: Double
        /// What was decided: `start`, `restart`, `scale-up`, `scale-down`, `give-up`, `reload`…
        public var action: String
        /// Why.
        public var reason: String
    }

    public var pid: Int32
    public var startedAt: Double
    public var updatedAt: Double
    /// How many workers it wants now.
    public var desiredWorkers: Int
    public var slots: [Slot]
    /// The latest decisions, oldest first (at most 50).
    public var decisions: [Decision]
}

/// The fleet's status directory: reports written atomically, read by `weft top`, and the
/// foreman's settings for its workers (which hold credentials).
///
/// It must be this user's alone: created by this user (0700 when Weft creates it), not a
/// symbolic link, writable by no other user, and under parents that no other user can replace
/// it in (each owned by root or this user, and writable by others only with the sticky bit, as
/// `/tmp` is). Anything else is refused (``prepare()``): another local user who made the
/// directory first could otherwise swap the workers' settings for their own and collect the
/// broker's password.
public struct FleetStatusDirectory: Sendable {
    /// The directory.
    public var path: String

    /// The directory at `path` (created when a report is first written).
    public init(path: String) { self.path = path }

    /// Creates the directory (0700, its missing parents too) when it is missing, and checks
    /// that it and its parents are safe (see the type's description).
    /// - Throws: ``ConfigurationError`` naming `statusDir` and what is wrong.
    public func prepare() throws(ConfigurationError) {
        func refuse(_ message: String) -> ConfigurationError {
            ConfigurationError(problems: [ConfigurationProblem("statusDir", "\(path) \(message)")])
        }
        guard path.hasPrefix("/") else { throw refuse("is not an absolute path") }
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw refuse("cannot be examined: \(String(cString: strerror(errno)))") }
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw refuse("cannot be created: \(error.localizedDescription)")
            }
            guard lstat(path, &info) == 0 else { throw refuse("cannot be examined after it was created") }
        }
        let me = geteuid()
        if info.st_mode & S_IFMT == S_IFLNK { throw refuse("is a symbolic link; give the directory itself") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw refuse("is not a directory") }
        guard info.st_uid == me else {
            throw refuse("belongs to user \(info.st_uid), not to this user (\(me)): another user may have made it; remove it, or set statusDir")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw refuse("can be written by other users (mode \(String(info.st_mode & 0o777, radix: 8))); make it 0700")
        }
        var parent = (path as NSString).deletingLastPathComponent
        while !parent.isEmpty {
            guard stat(parent, &info) == 0 else { throw refuse("has a parent \(parent) that cannot be examined") }
            if info.st_uid != 0 && info.st_uid != me {
                throw refuse("is inside \(parent), which belongs to user \(info.st_uid): that user could replace it")
            }
            if info.st_mode & 0o022 != 0 && info.st_mode & S_ISVTX == 0 {
                throw refuse("is inside \(parent), which other users can write to (without the sticky bit): they could replace it")
            }
            if parent == "/" { break }
            parent = (parent as NSString).deletingLastPathComponent
        }
    }

    /// Writes `report` as `name` atomically (a reader never sees half a file).
    public func write<Report: Encodable>(_ report: Report, as name: String) throws {
        try write(try JSONEncoder().encode(report), as: name)
    }

    /// Writes `data` as `name` atomically (a reader never sees half a file), with `permissions`
    /// from its creation (0600 keeps credentials to this user), in the directory once it is
    /// checked (``prepare()``). The file is written new (never through a link someone left in
    /// its place), then renamed over the old one.
    public func write(_ data: Data, as name: String, permissions: Int = 0o644) throws {
        try prepare()
        let target = (path as NSString).appendingPathComponent(name)
        let temporary = (path as NSString).appendingPathComponent(".\(name).\(getpid()).tmp")
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(permissions))
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target]) }
        let written = data.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        close(descriptor)
        guard written, rename(temporary, target) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target])
        }
    }

    /// Removes `name`, if there.
    public func remove(_ name: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name))
    }

    /// The reports of live workers (those whose process is gone are removed).
    public func workers() -> [WorkerReport] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var reports: [WorkerReport] = []
        for name in names.sorted() where name.hasPrefix("worker-") && name.hasSuffix(".json") {
            guard let report = read(WorkerReport.self, name) else { continue }
            guard kill(report.pid, 0) == 0 || errno == EPERM else {
                remove(name)
                continue
            }
            reports.append(report)
        }
        return reports
    }

    /// The foreman's report, if a live foreman wrote one.
    public func foreman() -> ForemanReport? {
        guard let report = read(ForemanReport.self, "foreman.json"), kill(report.pid, 0) == 0 || errno == EPERM else { return nil }
        return report
    }

    private func read<Report: Decodable>(_ type: Report.Type, _ name: String) -> Report? {
        guard let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)) else { return nil }
        return try? JSONDecoder().decode(Report.self, from: data)
    }

    /// This process's resident anonymous memory, in bytes (`RssAnon` of /proc/self/status).
    public static func anonymousBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// This process's resident memory, in bytes (from /proc/self/statm).
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
