/// Operations on a ``CoordinationStore`` applied together, in order, by
/// ``CoordinationStore/apply(_:)``: a node's record with the set additions and reads that follow
/// from it, a run's start, a run's end.
///
/// Each operation may carry conditions on the outcomes of earlier ones (a set addition only when
/// the record before it was stored; a run's end only when a set reached a size); an operation
/// whose conditions do not hold is not attempted. Adding an operation returns a typed
/// ``Label`` by which its outcome is read from the ``Results``:
///
/// ```swift
/// var batch = StoreBatch()
/// let record = batch.setIfAbsent(key, value, fence: fence)
/// let finished = batch.addToSet(finishedKey, member: "3", when: [.stored(record)])
/// let results = try await store.apply(batch)
/// if results[record] == .stored, results[finished] == nodeCount { … }
/// ```
public struct StoreBatch: Sendable, Hashable {
    /// One operation: each is the batch form of a primitive of ``CoordinationStore``.
    public enum Operation: Sendable, Hashable {
        /// Reads the value at the key, as ``CoordinationStore/value(at:)``.
        case read(StoreKey)
        /// Stores the value unless the key has one, as ``CoordinationStore/setIfAbsent(_:_:fence:)``.
        case setIfAbsent(StoreKey, value: [UInt8], fence: Fence?)
        /// As ``CoordinationStore/compareAndSet(_:expected:new:fence:)``.
        case compareAndSet(StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?)
        /// As ``CoordinationStore/addToSet(_:member:)``.
        case addToSet(StoreKey, member: String)
        /// As ``CoordinationStore/increment(_:by:)``.
        case increment(StoreKey, by: Int64)
        /// As ``CoordinationStore/scheduleTimer(_:after:payload:)``.
        case scheduleTimer(StoreKey, after: Duration, payload: [UInt8])
        /// As ``CoordinationStore/retireTimer(_:)``.
        case retireTimer(StoreKey)
        /// As ``CoordinationStore/recordProgress(run:quietFor:)``.
        case recordProgress(run: String, quietFor: Duration)
        /// As ``CoordinationStore/forgetProgress(run:)``.
        case forgetProgress(run: String)

        /// The run whose records the operation touches.
        public var run: String {
            switch self {
            case .read(let key), .setIfAbsent(let key, _, _), .compareAndSet(let key, _, _, _), .addToSet(let key, _),
                .increment(let key, _), .scheduleTimer(let key, _, _), .retireTimer(let key):
                key.run
            case .recordProgress(let run, _), .forgetProgress(let run):
                run
            }
        }
    }

    /// A condition on the outcome of an earlier operation of the batch, by its index.
    public enum Condition: Sendable, Hashable {
        /// The set-if-absent at `step` stored its value.
        case stored(step: Int)
        /// The compare-and-set at `step` swapped.
        case swapped(step: Int)
        /// The set addition at `step` left its set with `size` members.
        case size(step: Int, equals: Int)

        /// The set-if-absent labelled `label` stored its value.
        public static func stored(_ label: Label<SetIfAbsentOutcome>) -> Condition { .stored(step: label.step) }
        /// The compare-and-set labelled `label` swapped.
        public static func swapped(_ label: Label<CompareAndSetOutcome>) -> Condition { .swapped(step: label.step) }
        /// The set addition labelled `label` left its set with `size` members.
        public static func size(_ label: Label<Int>, equals size: Int) -> Condition { .size(step: label.step, equals: size) }

        /// The index of the operation the condition is on.
        public var step: Int {
            switch self {
            case .stored(let step), .swapped(let step), .size(let step, _): step
            }
        }
    }

    /// An operation with the conditions under which it is attempted (all must hold).
    public struct Step: Sendable, Hashable {
        /// The operation.
        public var operation: Operation
        /// The first condition, kept apart so that a step with one condition (the usual case)
        /// allocates nothing for it.
        var firstCondition: Condition?
        /// The conditions after the first.
        var moreConditions: [Condition]

        /// Conditions on earlier operations; empty: always attempted.
        public var conditions: [Condition] {
            get { firstCondition.map { [$0] + moreConditions } ?? [] }
            set {
                firstCondition = newValue.first
                moreConditions = Array(newValue.dropFirst())
            }
        }

        /// Creates a step.
        public init(_ operation: Operation, when conditions: [Condition] = []) {
            self.operation = operation
            self.firstCondition = conditions.first
            self.moreConditions = conditions.count > 1 ? Array(conditions.dropFirst()) : []
        }
    }

    /// Names an operation of a batch, and the type of its outcome (see ``Results``).
    public struct Label<Value>: Sendable, Hashable {
        /// The operation's index in the batch.
        public let step: Int

        /// A label for the operation at `step`.
        public init(step: Int) { self.step = step }
    }

    /// The operations, in order.
    public private(set) var steps: [Step] = []

    /// An empty batch.
    public init() {}

    /// An empty batch with room for `capacity` operations.
    public init(capacity: Int) {
        steps.reserveCapacity(capacity)
    }

    /// A batch of `steps`. A condition must name an earlier step.
    public init(_ steps: [Step]) throws(WeftError) {
        for step in steps { try append(step) }
    }

    /// Whether the batch has no operation.
    public var isEmpty: Bool { steps.isEmpty }

    /// Whether every operation touches the records of one run (`nil` when there is none): most
    /// batches do, and a store may apply them under one lock.
    public var onlyRun: String? {
        guard let run = steps.first?.operation.run else { return nil }
        for step in steps.dropFirst() where step.operation.run != run { return nil }
        return run
    }

    /// Whether every operation is a read.
    public var isReadOnly: Bool {
        steps.allSatisfy { if case .read = $0.operation { true } else { false } }
    }

    /// Appends `step`; its conditions must name earlier steps.
    public mutating func append(_ step: Step) throws(WeftError) {
        for condition in step.conditions where condition.step < 0 || condition.step >= steps.count {
            throw WeftError(.invalidBatch, "A batch's condition names step \(condition.step) of \(steps.count) before it")
        }
        steps.append(step)
    }

    private mutating func add<Value>(_ operation: Operation, _ conditions: [Condition]) -> Label<Value> {
        // A condition naming no earlier step (a label of another batch) never holds: see
        // ``Results/allows(_:)``.
        steps.append(Step(operation, when: conditions))
        return Label(step: steps.count - 1)
    }

    // MARK: Building

    /// Reads the value at `key`.
    @discardableResult
    public mutating func read(_ key: StoreKey, when conditions: [Condition] = []) -> Label<[UInt8]?> {
        add(.read(key), conditions)
    }

    /// Stores `value` at `key` unless it has one (see ``CoordinationStore/setIfAbsent(_:_:fence:)``).
    @discardableResult
    public mutating func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence? = nil, when conditions: [Condition] = [])
        -> Label<SetIfAbsentOutcome>
    {
        add(.setIfAbsent(key, value: value, fence: fence), conditions)
    }

    /// Replaces the value at `key` when it is `expected` (see
    /// ``CoordinationStore/compareAndSet(_:expected:new:fence:)``).
    @discardableResult
    public mutating func compareAndSet(
        _ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence? = nil, when conditions: [Condition] = []
    ) -> Label<CompareAndSetOutcome> {
        add(.compareAndSet(key, expected: expected, new: new, fence: fence), conditions)
    }

    /// Adds `member` to the set at `key`; the outcome is the set's size afterwards.
    @discardableResult
    public mutating func addToSet(_ key: StoreKey, member: String, when conditions: [Condition] = []) -> Label<Int> {
        add(.addToSet(key, member: member), conditions)
    }

    /// Adds `delta` to the counter at `key`; the outcome is its new value.
    @discardableResult
    public mutating func increment(_ key: StoreKey, by delta: Int64, when conditions: [Condition] = []) -> Label<Int64> {
        add(.increment(key, by: delta), conditions)
    }

    /// Schedules a timer; the outcome says whether it was (see
    /// ``CoordinationStore/scheduleTimer(_:after:payload:)``).
    @discardableResult
    public mutating func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8], when conditions: [Condition] = [])
        -> Label<Bool>
    {
        add(.scheduleTimer(key, after: delay, payload: payload), conditions)
    }

    /// Retires the timer at `key` (see ``CoordinationStore/retireTimer(_:)``).
    @discardableResult
    public mutating func retireTimer(_ key: StoreKey, when conditions: [Condition] = []) -> Label<Void> {
        add(.retireTimer(key), conditions)
    }

    /// Notes progress of `run` (see ``CoordinationStore/recordProgress(run:quietFor:)``).
    @discardableResult
    public mutating func recordProgress(run: String, quietFor: Duration = .zero, when conditions: [Condition] = []) -> Label<Void> {
        add(.recordProgress(run: run, quietFor: quietFor), conditions)
    }

    /// Removes `run` from the progress index (see ``CoordinationStore/forgetProgress(run:)``).
    @discardableResult
    public mutating func forgetProgress(run: String, when conditions: [Condition] = []) -> Label<Void> {
        add(.forgetProgress(run: run), conditions)
    }
}
