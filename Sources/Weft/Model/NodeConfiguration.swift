/// How a node runs: attempts and backoff, timeout, fallback, join strategy, queue and priority.
///
/// In JSON every member is optional and durations are seconds:
/// `{"maxAttempts": 3, "backoff": {"kind": "exponential", "initial": 0.2}, "timeout": 5}`.
public struct NodeConfiguration: Sendable, Hashable, Codable {
    /// How many attempts the node gets in all, counting the first. At least 1.
    public var maxAttempts: Int
    /// The delay before each retry.
    public var backoff: Backoff
    /// The time one attempt may take before it is cancelled and counted as failed.
    public var timeout: Duration?
    /// The registry key of code that runs when attempts are exhausted, with the failed node's
    /// input and the error; its result flows along the failed node's edges.
    public var fallback: String?
    /// When a node with several incoming edges runs.
    public var join: JoinStrategy
    /// The queue (capability label) whose workers run this node; `nil` for the default queue.
    public var queue: String?
    /// The node's priority on its queue: higher runs first where the transport supports it.
    public var priority: Int
    /// Whether its code blocks a thread (CPU-bound work, synchronous I/O): its attempts then run
    /// on a ``BlockingExecutor``'s threads instead of the cooperative pool.
    public var blocking: Bool

    /// Creates a configuration; every member has a default.
    public init(
        maxAttempts: Int = 1, backoff: Backoff = .default, timeout: Duration? = nil, fallback: String? = nil,
        join: JoinStrategy = .all, queue: String? = nil, priority: Int = 0, blocking: Bool = false
    ) {
        self.blocking = blocking
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.timeout = timeout
        self.fallback = fallback
        self.join = join
        self.queue = queue
        self.priority = priority
    }

    private enum CodingKeys: String, CodingKey { case maxAttempts, backoff, timeout, fallback, join, queue, priority, blocking }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = NodeConfiguration()
        maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? defaults.maxAttempts
        backoff = try container.decodeIfPresent(Backoff.self, forKey: .backoff) ?? defaults.backoff
        timeout = try container.decodeSecondsIfPresent(forKey: .timeout)
        fallback = try container.decodeIfPresent(String.self, forKey: .fallback)
        join = try container.decodeIfPresent(JoinStrategy.self, forKey: .join) ?? defaults.join
        queue = try container.decodeIfPresent(String.self, forKey: .queue)
        priority = try container.decodeIfPresent(Int.self, forKey: .priority) ?? defaults.priority
        blocking = try container.decodeIfPresent(Bool.self, forKey: .blocking) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let defaults = NodeConfiguration()
        if maxAttempts != defaults.maxAttempts { try container.encode(maxAttempts, forKey: .maxAttempts) }
        if backoff != defaults.backoff { try container.encode(backoff, forKey: .backoff) }
        try container.encodeIfPresent(timeout?.seconds, forKey: .timeout)
        try container.encodeIfPresent(fallback, forKey: .fallback)
        if join != defaults.join { try container.encode(join, forKey: .join) }
        try container.encodeIfPresent(queue, forKey: .queue)
        if priority != defaults.priority { try container.encode(priority, forKey: .priority) }
        if blocking { try container.encode(true, forKey: .blocking) }
    }
}

/// When a node with several incoming edges runs.
public enum JoinStrategy: String, Sendable, Hashable, Codable {
    /// Once every incoming edge is resolved (taken or skipped) and at least one was taken.
    case all
    /// Once, on the first taken incoming edge; later arrivals are recorded and ignored.
    case any
}

/// The delay before a retry.
public struct Backoff: Sendable, Hashable, Codable {
    /// The shape of the delays.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The same delay before every retry.
        case fixed
        /// `initial × multiplier^(retry − 1)`, capped at `maximum`.
        case exponential
    }

    /// The shape of the delays.
    public var kind: Kind
    /// The first delay (and every delay, for ``Kind/fixed``).
    public var initial: Duration
    /// The growth factor between retries, for ``Kind/exponential``.
    public var multiplier: Double
    /// The cap on any delay.
    public var maximum: Duration
    /// The fraction of each delay, from 0 to 1, that is randomly taken off it, so that retries of
    /// many runs spread out. A delay never exceeds the cap.
    public var jitter: Double

    /// A fixed delay before every retry.
    public static func fixed(_ delay: Duration) -> Backoff {
        Backoff(kind: .fixed, initial: delay, multiplier: 1, maximum: delay, jitter: 0)
    }

    /// Exponentially growing delays with jitter, capped.
    public static func exponential(
        initial: Duration = .milliseconds(100), multiplier: Double = 2, maximum: Duration = .seconds(30),
        jitter: Double = 0.2
    ) -> Backoff {
        Backoff(kind: .exponential, initial: initial, multiplier: multiplier, maximum: maximum, jitter: jitter)
    }

    /// Exponential from 100 ms, doubling, capped at 30 s, with 20 % jitter.
    public static let `default` = Backoff.exponential()

    /// No delay at all.
    public static let none = Backoff.fixed(.zero)

    /// The delay before retry number `retry` (1 for the first retry), with `random` in `0..<1`
    /// choosing the jitter.
    public func delay(beforeRetry retry: Int, random: Double) -> Duration {
        var seconds = initial.seconds
        if kind == .exponential, retry > 1 {
            seconds *= pow(multiplier, Double(retry - 1))
        }
        seconds = min(seconds, maximum.seconds)
        if jitter > 0 {
            seconds *= 1 - min(max(jitter, 0), 1) * random
        }
        return .seconds(max(seconds, 0))
    }

    private enum CodingKeys: String, CodingKey { case kind, initial, multiplier, maximum, jitter, delay }

    private init(kind: Kind, initial: Duration, multiplier: Double, maximum: Duration, jitter: Double) {
        self.kind = kind
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .fixed:
            let delay = try container.decodeSecondsIfPresent(forKey: .delay)
                ?? container.decodeSecondsIfPresent(forKey: .initial) ?? .zero
            self = .fixed(delay)
        case .exponential:
            let defaults = Backoff.exponential()
            self = .exponential(
                initial: try container.decodeSecondsIfPresent(forKey: .initial) ?? defaults.initial,
                multiplier: try container.decodeIfPresent(Double.self, forKey: .multiplier) ?? defaults.multiplier,
                maximum: try container.decodeSecondsIfPresent(forKey: .maximum) ?? defaults.maximum,
                jitter: try container.decodeIfPresent(Double.self, forKey: .jitter) ?? defaults.jitter)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch kind {
        case .fixed:
            try container.encode(initial.seconds, forKey: .delay)
        case .exponential:
            try container.encode(initial.seconds, forKey: .initial)
            try container.encode(multiplier, forKey: .multiplier)
            try container.encode(maximum.seconds, forKey: .maximum)
            try container.encode(jitter, forKey: .jitter)
        }
    }
}

import Foundation

extension KeyedDecodingContainer {
    /// A duration given in seconds, if present. Refuses a number that is not finite, is negative,
    /// or is 9e9 seconds (285 years) or more, which `Duration` cannot hold in nanoseconds
    /// (a blueprint's `1e51` crashed the conversion; found by fuzzing).
    func decodeSecondsIfPresent(forKey key: Key) throws -> Duration? {
        guard let seconds = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard seconds.isFinite, seconds >= 0, seconds < 9e9 else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "a duration in seconds, from 0 to less than 9e9; got \(seconds)")
        }
        return .seconds(seconds)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}

extension NodeConfiguration {
    /// The longest queue label: with a fleet's prefix it must still fit a broker's queue name
    /// (255 bytes on AMQP) and a NATS subject token.
    public static let maxQueueLabelLength = 64

    /// Why `label` cannot name a queue, or `nil` when it can: 1 to ``maxQueueLabelLength``
    /// ASCII letters, digits, `-`, `_` and `.`, neither starting nor ending with a dot nor
    /// holding two in a row (no `..`, no hidden or path-like names). The reason quotes the label
    /// with its control characters escaped and at most 40 characters of it.
    public static func queueLabelProblem(_ label: String) -> String? {
        // Quoted only for a refusal: labels are checked on a hot path.
        var quoted: String { PrintableText.quoted(label) }
        if label.isEmpty { return "\"\": empty (leave the queue out for the default queue)" }
        if label.utf8.count > maxQueueLabelLength {
            return "\(quoted): \(label.utf8.count) bytes, more than \(maxQueueLabelLength)"
        }
        let allowed = label.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
        guard allowed else { return "\(quoted): only ASCII letters, digits, '-', '_' and '.' may name a queue" }
        if label.hasPrefix(".") || label.hasSuffix(".") || label.contains("..") {
            return "\(quoted): a dot may only stand between other characters"
        }
        return nil
    }
}
