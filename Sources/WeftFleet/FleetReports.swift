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

/// The fleet's status directory: reports written atomically, read by `weft top`.
public struct FleetStatusDirectory: Sendable {
    /// The directory.
    public var path: String

    /// The directory at `path` (created when a report is first written).
    public init(path: String) { self.path = path }

    /// Writes `report` as `name` atomically (a reader never sees half a file).
    public func write<Report: Encodable>(_ report: Report, as name: String) throws {
        try write(try JSONEncoder().encode(report), as: name)
    }

    /// Writes `data` as `name` atomically (a reader never sees half a file), with `permissions`
    /// from its creation (0600 keeps credentials to this user).
    public func write(_ data: Data, as name: String, permissions: Int = 0o644) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let target = (path as NSString).appendingPathComponent(name)
        let temporary = (path as NSString).appendingPathComponent(".\(name).\(getpid()).tmp")
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: permissions]),
            rename(temporary, target) == 0
        else {
            try? FileManager.default.removeItem(atPath: temporary)
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
