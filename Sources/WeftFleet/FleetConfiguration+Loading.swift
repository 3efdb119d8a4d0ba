import Foundation
import Logging
import Weft
import WeftAMQP
import WeftLMDB
import WeftPostgres

extension FleetConfiguration {
    /// Settings given on the command line (or by a program): each one set replaces what the file
    /// and the environment say.
    public struct Overrides: Sendable, Hashable {
        public var broker: String?
        public var store: String?
        public var storeSync: String?
        public var queuePrefix: String?
        public var queues: [String]?
        public var concurrency: Int?
        public var logLevel: String?
        public var metricsPort: Int?
        public var workers: Int?
        public var drainTimeout: Double?
        public var blueprints: [String]?
        public var allowPlainAMQP: Bool?
        public var tlsCA: String?
        public var tlsCertificate: String?
        public var tlsKey: String?

        /// No overrides.
        public init() {}
    }

    /// The environment variables read, and the settings they set.
    public static let environmentVariables: [(name: String, setting: String)] = [
        ("WEFT_BROKER", "broker"), ("WEFT_STORE", "store"), ("WEFT_STORE_SYNC", "storeSync"), ("WEFT_QUEUE_PREFIX", "queuePrefix"),
        ("WEFT_QUEUES", "queues"), ("WEFT_CONCURRENCY", "concurrency"), ("WEFT_INLINE_SUCCESSORS", "inlineSuccessors"),
        ("WEFT_LOG_LEVEL", "logLevel"),
        ("WEFT_METRICS_PORT", "metricsPort"), ("WEFT_WORKERS", "foreman.workers"), ("WEFT_ALLOW_PLAIN_AMQP", "allowPlainAMQP"),
        ("WEFT_TLS_CA", "tlsCA"), ("WEFT_TLS_CERT", "tlsCertificate"), ("WEFT_TLS_KEY", "tlsKey"),
    ]

    /// Reads the configuration: the defaults, then the JSON file at `file` (or at `WEFT_CONFIG`),
    /// then the environment, then `overrides`; and checks it.
    /// - Throws: ``ConfigurationError`` listing every problem (a missing file, bad JSON, unknown
    ///   keys, wrong types, values out of range).
    public static func load(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment, overrides: Overrides = Overrides()
    ) throws(ConfigurationError) -> FleetConfiguration {
        var configuration = FleetConfiguration()
        var problems: [ConfigurationProblem] = []
        if let path = file ?? environment["WEFT_CONFIG"] {
            configuration.read(file: path, problems: &problems)
        }
        configuration.read(environment: environment, problems: &problems)
        configuration.apply(overrides, problems: &problems)
        problems += configuration.problems()
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return configuration
    }

    /// Why the settings file at `path` may hold settings another user wrote (it, or the
    /// directory holding it, belongs to a user other than this one and root, or is writable by
    /// every user), or `nil`. Settings name the broker a worker sends its password to.
    static func unsafeOwnership(of path: String) -> String? {
        let me = geteuid()
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }  // reported as unreadable below
        if info.st_uid != me && info.st_uid != 0 {
            return "belongs to user \(info.st_uid), not to this user (\(me)) or root: another user could have written it"
        }
        if info.st_mode & 0o002 != 0 { return "can be written by every user (mode \(String(info.st_mode & 0o777, radix: 8)))" }
        let directory = ((path as NSString).deletingLastPathComponent as NSString).isEqual(to: "")
            ? "." : (path as NSString).deletingLastPathComponent
        guard stat(directory, &info) == 0 else { return nil }
        if info.st_uid != me && info.st_uid != 0 {
            return "is in \(directory), which belongs to user \(info.st_uid): that user could replace it"
        }
        if info.st_mode & 0o002 != 0 && info.st_mode & S_ISVTX == 0 {
            return "is in \(directory), which every user can write to: another user could replace it"
        }
        return nil
    }

    /// Every problem of the settings as they are.
    public func problems() -> [ConfigurationProblem] {
        var problems: [ConfigurationProblem] = []
        do {
            _ = try amqpConfiguration()
        } catch let error as AMQPError {
            problems.append(ConfigurationProblem("broker", error.message))
        } catch {
            problems.append(ConfigurationProblem("broker", "\(error)"))
        }
        for (setting, path) in [("tlsCA", tlsCA), ("tlsCertificate", tlsCertificate), ("tlsKey", tlsKey)] {
            guard let path else { continue }
            if !FileManager.default.isReadableFile(atPath: path) { problems.append(ConfigurationProblem(setting, "\(path) cannot be read")) }
        }
        if (tlsCertificate == nil) != (tlsKey == nil) {
            problems.append(ConfigurationProblem("tlsCertificate", "a client certificate and its key go together: give both tlsCertificate and tlsKey"))
        }
        if store.isEmpty {
            problems.append(ConfigurationProblem("store", "is empty; give the state store's directory or a postgres:// URL"))
        } else if storeIsPostgres {
            do { _ = try postgresConfiguration() } catch let error as PostgresStoreError {
                problems.append(ConfigurationProblem("store", error.message))
            } catch {
                problems.append(ConfigurationProblem("store", "\(error)"))
            }
        } else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: store, isDirectory: &isDirectory) {
                if !isDirectory.boolValue { problems.append(ConfigurationProblem("store", "\(store) is a file, not a directory")) }
            } else {
                // It will be created: its nearest existing ancestor must let us.
                var ancestor = (store as NSString).deletingLastPathComponent
                while !ancestor.isEmpty && ancestor != "/" && !FileManager.default.fileExists(atPath: ancestor) {
                    ancestor = (ancestor as NSString).deletingLastPathComponent
                }
                if !ancestor.isEmpty && !FileManager.default.isWritableFile(atPath: ancestor) {
                    problems.append(ConfigurationProblem("store", "\(store) does not exist and cannot be created: \(ancestor) is not writable"))
                }
            }
        }
        if queuePrefix.isEmpty || queuePrefix.contains(where: { $0.isWhitespace }) {
            problems.append(ConfigurationProblem("queuePrefix", "must be a non-empty name without spaces"))
        }
        if concurrency < 1 { problems.append(ConfigurationProblem("concurrency", "must be at least 1 (got \(concurrency))")) }
        if blockingThreads < 1 {
            problems.append(ConfigurationProblem("blockingThreads", "must be at least 1 (got \(blockingThreads))"))
        }
        if inlineSuccessors < 0 {
            problems.append(ConfigurationProblem("inlineSuccessors", "must be 0 (off) or more (got \(inlineSuccessors))"))
        }
        if !(0...65535).contains(metricsPort) {
            problems.append(ConfigurationProblem("metricsPort", "must be a port, 1–65535, or 0 for none (got \(metricsPort))"))
        }
        if !(drainTimeout > 0) { problems.append(ConfigurationProblem("drainTimeout", "must be more than 0 seconds")) }
        if !(stallTimeout > 0) { problems.append(ConfigurationProblem("stallTimeout", "must be more than 0 seconds")) }
        if maxMessageSize < 1024 { problems.append(ConfigurationProblem("maxMessageSize", "must be at least 1024 bytes")) }
        if let retention, !(retention > 0) { problems.append(ConfigurationProblem("retention", "must be more than 0 seconds, or null")) }
        for path in blueprints where !FileManager.default.fileExists(atPath: path) {
            problems.append(ConfigurationProblem("blueprints", "no file at \(path)"))
        }
        if foreman.minWorkers < 1 { problems.append(ConfigurationProblem("foreman.minWorkers", "must be at least 1")) }
        if foreman.maxWorkers < foreman.minWorkers {
            problems.append(
                ConfigurationProblem(
                    "foreman.maxWorkers", "must be at least foreman.minWorkers (\(foreman.maxWorkers) < \(foreman.minWorkers))"))
        }
        if !(foreman.minWorkers...max(foreman.minWorkers, foreman.maxWorkers)).contains(foreman.workers) {
            problems.append(
                ConfigurationProblem(
                    "foreman.workers", "must lie between minWorkers and maxWorkers (\(foreman.minWorkers)…\(foreman.maxWorkers)); got \(foreman.workers)"))
        }
        if !(foreman.scaleInterval > 0) { problems.append(ConfigurationProblem("foreman.scaleInterval", "must be more than 0 seconds")) }
        if foreman.restartLimit < 1 { problems.append(ConfigurationProblem("foreman.restartLimit", "must be at least 1")) }
        return problems
    }

    // MARK: Sources

    private static let keys = [
        "broker", "allowPlainAMQP", "tlsCA", "tlsCertificate", "tlsKey", "store", "storeSync", "statusDir", "queuePrefix", "queues", "concurrency", "blockingThreads", "inlineSuccessors", "logLevel", "metricsPort",
        "drainTimeout", "stallTimeout", "maxMessageSize", "blueprints", "retention", "foreman",
    ]
    private static let foremanKeys = ["workers", "minWorkers", "maxWorkers", "scaleInterval", "restartLimit", "workerCommand"]

    private mutating func read(file path: String, problems: inout [ConfigurationProblem]) {
        let setting = "config file \(path)"
        if let unsafe = Self.unsafeOwnership(of: path) {
            problems.append(ConfigurationProblem(setting, unsafe))
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            problems.append(ConfigurationProblem(setting, "cannot be read (no such file, or no permission)"))
            return
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: data)
        } catch {
            let message = (error as? WeftError)?.message ?? "\(error)"
            problems.append(ConfigurationProblem(setting, "is not valid JSON: \(message.replacingOccurrences(of: "Malformed JSON: ", with: ""))"))
            return
        }
        guard let object = json.objectValue else {
            problems.append(ConfigurationProblem(setting, "must hold a JSON object"))
            return
        }
        var reader = SettingReader(object: object, prefix: "", problems: problems)
        reader.rejectUnknown(Self.keys)
        reader.string("broker") { broker = $0 }
        reader.string("tlsCA") { tlsCA = $0 }
        reader.string("tlsCertificate") { tlsCertificate = $0 }
        reader.string("tlsKey") { tlsKey = $0 }
        reader.string("store") { store = $0 }
        reader.string("statusDir") { statusDir = $0 }
        var badSync: String?
        reader.string("storeSync") { value in
            if let mode = LMDBConfiguration.SyncMode(rawValue: value) { storeSync = mode } else { badSync = value }
        }
        if let badSync { reader.problem("storeSync", "\"\(badSync)\" is not a sync mode (durable or fast)") }
        reader.string("queuePrefix") { queuePrefix = $0 }
        reader.strings("queues", nullable: true) { queues = $0 }
        reader.int("concurrency") { concurrency = $0 }
        reader.bool("allowPlainAMQP") { allowPlainAMQP = $0 }
        reader.int("blockingThreads") { blockingThreads = $0 }
        reader.int("inlineSuccessors") { inlineSuccessors = $0 }
        var badLevel: String?
        reader.string("logLevel") { value in
            if let level = Logger.Level(rawValue: value) { logLevel = level } else { badLevel = value }
        }
        if let badLevel { reader.problem("logLevel", Self.levelMessage(badLevel)) }
        reader.int("metricsPort") { metricsPort = $0 }
        reader.number("drainTimeout") { drainTimeout = $0 }
        reader.number("stallTimeout") { stallTimeout = $0 }
        reader.int("maxMessageSize") { maxMessageSize = $0 }
        reader.strings("blueprints", nullable: false) { blueprints = $0 ?? [] }
        if object["retention"] == .null { retention = nil } else { reader.number("retention") { retention = $0 } }
        if let value = object["foreman"] {
            if let foremanObject = value.objectValue {
                var nested = SettingReader(object: foremanObject, prefix: "foreman.", problems: reader.problems)
                nested.rejectUnknown(Self.foremanKeys)
                nested.int("workers") { foreman.workers = $0 }
                nested.int("minWorkers") { foreman.minWorkers = $0 }
                nested.int("maxWorkers") { foreman.maxWorkers = $0 }
                nested.number("scaleInterval") { foreman.scaleInterval = $0 }
                nested.int("restartLimit") { foreman.restartLimit = $0 }
                nested.strings("workerCommand", nullable: false) { foreman.workerCommand = $0 ?? [] }
                reader.problems = nested.problems
            } else {
                reader.problem("foreman", "must be an object")
            }
        }
        problems = reader.problems
    }

    private mutating func read(environment: [String: String], problems: inout [ConfigurationProblem]) {
        if let value = environment["WEFT_BROKER"] { broker = value }
        if let value = environment["WEFT_TLS_CA"] { tlsCA = value }
        if let value = environment["WEFT_TLS_CERT"] { tlsCertificate = value }
        if let value = environment["WEFT_TLS_KEY"] { tlsKey = value }
        if let value = environment["WEFT_STORE"] { store = value }
        if let value = environment["WEFT_ALLOW_PLAIN_AMQP"] {
            switch value.lowercased() {
            case "1", "true", "yes": allowPlainAMQP = true
            case "0", "false", "no", "": allowPlainAMQP = false
            default: problems.append(ConfigurationProblem("WEFT_ALLOW_PLAIN_AMQP", "\"\(value)\" is not 1 or 0"))
            }
        }
        if let value = environment["WEFT_STORE_SYNC"] {
            if let mode = LMDBConfiguration.SyncMode(rawValue: value) { storeSync = mode } else {
                problems.append(ConfigurationProblem("WEFT_STORE_SYNC", "\"\(value)\" is not a sync mode (durable or fast)"))
            }
        }
        if let value = environment["WEFT_QUEUE_PREFIX"] { queuePrefix = value }
        if let value = environment["WEFT_QUEUES"] { queues = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        func integer(_ name: String, _ set: (Int) -> Void) {
            guard let value = environment[name] else { return }
            if let number = Int(value) { set(number) } else { problems.append(ConfigurationProblem(name, "expected an integer, got \"\(value)\"")) }
        }
        integer("WEFT_CONCURRENCY") { concurrency = $0 }
        integer("WEFT_INLINE_SUCCESSORS") { inlineSuccessors = $0 }
        integer("WEFT_METRICS_PORT") { metricsPort = $0 }
        integer("WEFT_WORKERS") { foreman.workers = $0 }
        if let value = environment["WEFT_LOG_LEVEL"] {
            if let level = Logger.Level(rawValue: value) { logLevel = level } else { problems.append(ConfigurationProblem("WEFT_LOG_LEVEL", Self.levelMessage(value))) }
        }
    }

    private mutating func apply(_ overrides: Overrides, problems: inout [ConfigurationProblem]) {
        if let value = overrides.broker { broker = value }
        if let value = overrides.store { store = value }
        if let value = overrides.allowPlainAMQP { allowPlainAMQP = value }
        if let value = overrides.tlsCA { tlsCA = value }
        if let value = overrides.tlsCertificate { tlsCertificate = value }
        if let value = overrides.tlsKey { tlsKey = value }
        if let value = overrides.storeSync {
            if let mode = LMDBConfiguration.SyncMode(rawValue: value) { storeSync = mode } else {
                problems.append(ConfigurationProblem("--store-sync", "\"\(value)\" is not a sync mode (durable or fast)"))
            }
        }
        if let value = overrides.queuePrefix { queuePrefix = value }
        if let value = overrides.queues { queues = value }
        if let value = overrides.concurrency { concurrency = value }
        if let value = overrides.metricsPort { metricsPort = value }
        if let value = overrides.drainTimeout { drainTimeout = value }
        if let value = overrides.blueprints, !value.isEmpty { blueprints += value }
        if let value = overrides.workers {
            foreman.workers = value
            foreman.minWorkers = min(foreman.minWorkers, value)
            foreman.maxWorkers = max(foreman.maxWorkers, value)
        }
        if let value = overrides.logLevel {
            if let level = Logger.Level(rawValue: value) { logLevel = level } else { problems.append(ConfigurationProblem("--log-level", Self.levelMessage(value))) }
        }
    }

    private static func levelMessage(_ value: String) -> String {
        "\"\(value)\" is not a log level (one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ") + ")"
    }
}

/// Reads typed settings out of a JSON object, noting every problem with the setting's path.
private struct SettingReader {
    let object: [String: JSONValue]
    let prefix: String
    var problems: [ConfigurationProblem]

    mutating func problem(_ key: String, _ message: String) {
        problems.append(ConfigurationProblem(prefix + key, message))
    }

    mutating func rejectUnknown(_ known: [String]) {
        for key in object.keys.sorted() where !known.contains(key) {
            let suggestion = known.min { distance(key, $0) < distance(key, $1) }.flatMap { distance(key, $0) <= 3 ? $0 : nil }
            problem(key, "unknown setting" + (suggestion.map { " (did you mean \"\(prefix)\($0)\"?)" } ?? ""))
        }
    }

    mutating func string(_ key: String, _ set: (String) -> Void) {
        guard let value = object[key] else { return }
        if let text = value.stringValue { set(text) } else { problem(key, "expected a string, got \(kind(value))") }
    }

    mutating func bool(_ key: String, _ set: (Bool) -> Void) {
        guard let value = object[key] else { return }
        if case .bool(let flag) = value { set(flag) } else { problem(key, "expected true or false, got \(kind(value))") }
    }

    mutating func int(_ key: String, _ set: (Int) -> Void) {
        guard let value = object[key] else { return }
        if case .int(let number) = value { set(Int(number)) } else { problem(key, "expected an integer, got \(kind(value))") }
    }

    mutating func number(_ key: String, _ set: (Double) -> Void) {
        guard let value = object[key] else { return }
        if let number = value.doubleValue { set(number) } else { problem(key, "expected a number of seconds, got \(kind(value))") }
    }

    mutating func strings(_ key: String, nullable: Bool, _ set: ([String]?) -> Void) {
        guard let value = object[key] else { return }
        if value == .null && nullable { return set(nil) }
        guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
            return problem(key, "expected an array of strings\(nullable ? " or null" : ""), got \(kind(value))")
        }
        set(array.compactMap(\.stringValue))
    }

    private func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string(let text): "the string \"\(text)\""
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Edit distance, for suggesting the setting meant.
    private func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() { current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))) }
            previous = current
        }
        return previous[b.count]
    }
}
