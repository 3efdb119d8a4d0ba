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
/// let finished = batch.addToSet(finishedKey, member: "3", when: .stored(record))
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
            self.init(operation, when: Conditions(conditions))
        }

        /// Creates a step attempted when every one of `conditions` holds.
        public init(_ operation: Operation, when conditions: Conditions) {
            self.operation = operation
            self.firstCondition = conditions.first
            self.moreConditions = conditions.more
        }
    }

    /// The conditions of a step, all of which must hold: none (``always``), one, written
    /// `.stored(label)`, `.swapped(label)` or `.size(label, equals: n)` (which allocates nothing),
    /// or several, written as an array literal.
    public struct Conditions: Sendable, Hashable, ExpressibleByArrayLiteral {
        var first: Condition?
        var more: [Condition]

        /// No condition: the step is always attempted.
        public static var always: Conditions { Conditions(first: nil, more: []) }

        private init(first: Condition?, more: [Condition]) {
            self.first = first
            self.more = more
        }

        /// All of `conditions`.
        public init(_ conditions: [Condition]) {
            self.init(first: conditions.first, more: conditions.count > 1 ? Array(conditions.dropFirst()) : [])
        }

        /// All of `elements`.
        public init(arrayLiteral elements: Condition...) {
            self.init(elements)
        }

        /// The set-if-absent labelled `label` stored its value.
        public static func stored(_ label: Label<SetIfAbsentOutcome>) -> Conditions {
            Conditions(first: .stored(step: label.step), more: [])
        }

        /// The compare-and-set labelled `label` swapped.
        public static func swapped(_ label: Label<CompareAndSetOutcome>) -> Conditions {
            Conditions(first: .swapped(step: label.step), more: [])
        }

        /// The set addition labelled `label` left its set with `size` members.
        public static func size(_ label: Label<Int>, equals size: Int) -> Conditions {
            Conditions(first: .size(step: label.step, equals: size), more: [])
        }

        /// The conditions, in order.
        public var all: [Condition] { first.map { [$0] + more } ?? [] }
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

    /// What the batch's operations have in common, kept as they are added, so that a store
    /// reads it without a pass over them.
    private var summary = Summary()

    private struct Summary: Sendable, Hashable {
        /// The run of every operation so far, `nil` when there is none or several.
        var onlyRun: String?
        var spansRuns = false
        var hasWrites = false
        var usesTime = false
        /// The first operation whose fence guards a key of another run.
        var misfenced: Int?

        mutating func note(_ operation: Operation, at index: Int) {
            let run: String
            switch operation {
            case .read(let key):
                run = key.run
            case .setIfAbsent(let key, _, let fence), .compareAndSet(let key, _, _, let fence):
                if misfenced == nil, let fence, fence.key.run != key.run { misfenced = index }
                run = key.run
                hasWrites = true
            case .addToSet(let key, _), .increment(let key, _), .retireTimer(let key):
                run = key.run
                hasWrites = true
            case .scheduleTimer(let key, _, _):
                run = key.run
                hasWrites = true
                usesTime = true
            case .recordProgress(let progressed, _):
                run = progressed
                hasWrites = true
                usesTime = true
            case .forgetProgress(let forgotten):
                run = forgotten
                hasWrites = true
            }
            if index == 0 {
                onlyRun = run
            } else if !spansRuns, onlyRun != run {
                spansRuns = true
                onlyRun = nil
            }
        }
    }

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

    /// How many operations the batch has: the index the next one will take.
    public var count: Int { steps.count }

    /// The run whose records every operation touches (`nil` when there is no operation, or
    /// operations of several runs): most batches have one, and a store may apply them under one
    /// lock. Kept as operations are added: reading it costs nothing.
    public var onlyRun: String? { summary.onlyRun }

    /// Whether every operation is a read.
    public var isReadOnly: Bool { !summary.hasWrites }

    /// Whether an operation needs the store's current time (a timer's schedule, progress).
    public var usesTime: Bool { summary.usesTime }

    /// Throws ``WeftError/Code/invalidFence`` when an operation's fence guards a key of another
    /// run than the key it writes (a run's records are deleted together): a store checks this
    /// before it applies the batch.
    public func checkFences() throws(WeftError) {
        guard let index = summary.misfenced else { return }
        switch steps[index].operation {
        case .setIfAbsent(let key, _, let fence?), .compareAndSet(let key, _, _, let fence?):
            throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(key)")
        default:
            return
        }
    }

    /// Appends `step`; its conditions must name earlier steps.
    public mutating func append(_ step: Step) throws(WeftError) {
        for condition in step.conditions where condition.step < 0 || condition.step >= steps.count {
            throw WeftError(.invalidBatch, "A batch's condition names step \(condition.step) of \(steps.count) before it")
        }
        summary.note(step.operation, at: steps.count)
        steps.append(step)
    }

    /// Appends an operation and returns its index. Not generic, so that building a batch
    /// copies no step through run-time metadata.
    private mutating func add(_ operation: consuming Operation, _ conditions: Conditions) -> Int {
        // A condition naming no earlier step (a label of another batch) never holds: see
        // ``Results/allows(_:)``.
        summary.note(operation, at: steps.count)
        steps.append(Step(operation, when: conditions))
        return steps.count - 1
    }

    // MARK: Building

    /// Reads the value at `key`.
    @discardableResult
    public mutating func read(_ key: StoreKey, when conditions: Conditions = .always) -> Label<[UInt8]?> {
        Label(step: add(.read(key), conditions))
    }

    /// Stores `value` at `key` unless it has one (see ``CoordinationStore/setIfAbsent(_:_:fence:)``).
    @discardableResult
    public mutating func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence? = nil, when conditions: Conditions = .always)
        -> Label<SetIfAbsentOutcome>
    {
        Label(step: add(.setIfAbsent(key, value: value, fence: fence), conditions))
    }

    /// Replaces the value at `key` when it is `expected` (see
    /// ``CoordinationStore/compareAndSet(_:expected:new:fence:)``).
    @discardableResult
    public mutating func compareAndSet(
        _ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence? = nil, when conditions: Conditions = .always
    ) -> Label<CompareAndSetOutcome> {
        Label(step: add(.compareAndSet(key, expected: expected, new: new, fence: fence), conditions))
    }

    /// Adds `member` to the set at `key`; the outcome is the set's size afterwards.
    @discardableResult
    public mutating func addToSet(_ key: StoreKey, member: String, when conditions: Conditions = .always) -> Label<Int> {
        Label(step: add(.addToSet(key, member: member), conditions))
    }

    /// Adds `delta` to the counter at `key`; the outcome is its new value.
    @discardableResult
    public mutating func increment(_ key: StoreKey, by delta: Int64, when conditions: Conditions = .always) -> Label<Int64> {
        Label(step: add(.increment(key, by: delta), conditions))
    }

    /// Schedules a timer; the outcome says whether it was (see
    /// ``CoordinationStore/scheduleTimer(_:after:payload:)``).
    @discardableResult
    public mutating func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8], when conditions: Conditions = .always)
        -> Label<Bool>
    {
        Label(step: add(.scheduleTimer(key, after: delay, payload: payload), conditions))
    }

    /// Retires the timer at `key` (see ``CoordinationStore/retireTimer(_:)``).
    @discardableResult
    public mutating func retireTimer(_ key: StoreKey, when conditions: Conditions = .always) -> Label<Void> {
        Label(step: add(.retireTimer(key), conditions))
    }

    /// Notes progress of `run` (see ``CoordinationStore/recordProgress(run:quietFor:)``).
    @discardableResult
    public mutating func recordProgress(run: String, quietFor: Duration = .zero, when conditions: Conditions = .always) -> Label<Void> {
        Label(step: add(.recordProgress(run: run, quietFor: quietFor), conditions))
    }

    /// Removes `run` from the progress index (see ``CoordinationStore/forgetProgress(run:)``).
    @discardableResult
    public mutating func forgetProgress(run: String, when conditions: Conditions = .always) -> Label<Void> {
        Label(step: add(.forgetProgress(run: run), conditions))
    }
}
