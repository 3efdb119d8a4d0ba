/// When the foreman adds or removes a worker, from samples of the job queues' depth: a pure
/// state machine, so that its hysteresis is tested without processes.
///
/// - Scale **up** by one when jobs wait and the backlog is not shrinking, for `upAfter`
///   consecutive samples (jobs aging in the queue), below `maxWorkers`.
/// - Scale **down** by one when the fleet is idle — no job waiting and none in hand — for
///   `downAfter` consecutive samples, above `minWorkers`. (An empty queue alone is not idle:
///   workers prefetch what waits, so a busy fleet often shows empty queues.)
/// - After any change, wait `cooldown` samples before the next: a new worker needs time to
///   show its effect, and a fleet that changes every sample thrashes.
public struct ScalingPolicy: Sendable, Hashable {
    /// A change and its reason.
    public struct Decision: Sendable, Hashable {
        /// The worker count to go to.
        public var workers: Int
        /// Why, for the foreman's log.
        public var reason: String
    }

    public var minWorkers: Int
    public var maxWorkers: Int
    /// Samples of a growing or standing backlog before scaling up. Default 3.
    public var upAfter = 3
    /// Samples of empty queues before scaling down. Default 12.
    public var downAfter = 12
    /// Samples after a change before another. Default 6.
    public var cooldown = 6
    /// Jobs waiting per worker below which a standing backlog is left alone. Default 1.
    public var backlogPerWorker = 1

    private var previousDepth: Int?
    private var busySamples = 0
    private var idleSamples = 0
    private var quietSamples = Int.max

    /// A policy between `minWorkers` and `maxWorkers`.
    public init(minWorkers: Int, maxWorkers: Int) {
        self.minWorkers = minWorkers
        self.maxWorkers = max(minWorkers, maxWorkers)
    }

    /// Takes one sample: `depth` jobs waiting and `inHand` being handled, with `workers`
    /// running. Returns a change, or `nil`.
    public mutating func observe(depth: Int, inHand: Int = 0, workers: Int) -> Decision? {
        defer { previousDepth = depth }
        quietSamples = quietSamples == .max ? .max : quietSamples + 1
        let notShrinking = previousDepth.map { depth >= $0 } ?? false
        if depth > backlogPerWorker * max(1, workers) && notShrinking {
            busySamples += 1
        } else {
            busySamples = 0
        }
        idleSamples = depth == 0 && inHand == 0 ? idleSamples + 1 : 0
        guard quietSamples >= cooldown else { return nil }
        if busySamples >= upAfter && workers < maxWorkers {
            busySamples = 0
            quietSamples = 0
            return Decision(
                workers: workers + 1,
                reason: "\(depth) jobs waiting and the backlog has not shrunk for \(upAfter) samples")
        }
        if idleSamples >= downAfter && workers > minWorkers {
            idleSamples = 0
            quietSamples = 0
            return Decision(workers: workers - 1, reason: "no job waiting or in hand for \(downAfter) samples")
        }
        return nil
    }
}
