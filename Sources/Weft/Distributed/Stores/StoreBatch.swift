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
    ///
    /// Kept flat and small, as the fields operations share, not as an ``Operation``: a store
    /// reads a step's key or value in place, where reading an enum's payload copies the whole
    /// operation (every key and value retained, then released), which costs more than the work
    /// on the in-memory store; and a hop's batch of eight steps fits an allocation that the
    /// system allocator serves from its per-thread cache, with few fields to release. ``operation`` gives the enum.
    public struct Step: Sendable, Hashable {
        /// Which operation the step is.
        enum Kind: UInt8, Sendable, Hashable {
            case read, setIfAbsent, compareAndSet, addToSet, increment, scheduleTimer, retireTimer, recordProgress, forgetProgress
        }

        /// The key; for progress, the run's key with an empty name.
        let key: StoreKey
        /// A set-if-absent's value, a compare-and-set's new value, a timer's payload.
        let bytes: [UInt8]
        /// A set addition's member; a write's fence's key name.
        let text: String
        /// What few steps have (see ``Rare``); `nil` for most.
        let rare: Rare?
        /// A write's fence token; an increment's amount (its bit pattern); a timer's or
        /// progress's delay, seconds.
        let number: UInt64
        /// A timer's or progress's delay, attoseconds.
        let attoseconds: Int64
        /// The first condition, kept apart and packed, so that a step with one condition (the
        /// usual case) allocates nothing for it.
        let firstCondition: PackedCondition?
        let kind: Kind
        /// Whether a write has a fence.
        let isFenced: Bool

        /// What few steps have, in one reference that most steps leave `nil`: a compare-and-set's
        /// expected value, a fence's run when it is not the key's (a fence that a store refuses),
        /// the conditions after the first. A step has fewer fields to release so.
        final class Rare: Sendable, Hashable {
            let expected: [UInt8]?
            let fenceRun: String?
            let moreConditions: [Condition]

            init(expected: [UInt8]?, fenceRun: String?, moreConditions: [Condition]) {
                self.expected = expected
                self.fenceRun = fenceRun
                self.moreConditions = moreConditions
            }

            static func == (lhs: Rare, rhs: Rare) -> Bool {
                lhs.expected == rhs.expected && lhs.fenceRun == rhs.fenceRun && lhs.moreConditions == rhs.moreConditions
            }

            func hash(into hasher: inout Hasher) {
                hasher.combine(expected)
                hasher.combine(fenceRun)
                hasher.combine(moreConditions)
            }
        }

        /// A compare-and-set's expected value.
        var expected: [UInt8]? { rare?.expected }
        /// A fence's run when it is not the key's.
        var fenceRun: String? { rare?.fenceRun }
        /// The conditions after the first.
        var moreConditions: [Condition] { rare?.moreConditions ?? [] }

        private init(
            _ kind: Kind, _ key: StoreKey, bytes: [UInt8] = [], expected: [UInt8]? = nil, fence: Fence? = nil, text: String = "",
            number: UInt64 = 0, delay: Duration = .zero, when conditions: Conditions
        ) {
            self.kind = kind
            self.key = key
            self.bytes = bytes
            // A step has a fence, a delay or a number, never two of them.
            let (seconds, attoseconds) = delay.components
            let fenceRun: String?
            if let fence {
                self.text = fence.key.name
                fenceRun = fence.key.run == key.run ? nil : fence.key.run
                self.number = fence.token
                self.isFenced = true
            } else {
                self.text = text
                fenceRun = nil
                self.number = delay == .zero ? number : UInt64(bitPattern: seconds)
                self.isFenced = false
            }
            self.attoseconds = attoseconds
            self.firstCondition = conditions.first
            self.rare = expected == nil && fenceRun == nil && conditions.more.isEmpty
                ? nil : Rare(expected: expected, fenceRun: fenceRun, moreConditions: conditions.more)
        }

        /// Creates a step.
        public init(_ operation: Operation, when conditions: [Condition] = []) {
            self.init(operation, when: Conditions(conditions))
        }

        /// Creates a step attempted when every one of `conditions` holds.
        public init(_ operation: Operation, when conditions: Conditions) {
            switch operation {
            case .read(let key): self = .read(key, when: conditions)
            case .setIfAbsent(let key, let value, let fence): self = .setIfAbsent(key, value, fence: fence, when: conditions)
            case .compareAndSet(let key, let expected, let new, let fence):
                self = .compareAndSet(key, expected: expected, new: new, fence: fence, when: conditions)
            case .addToSet(let key, let member): self = .addToSet(key, member: member, when: conditions)
            case .increment(let key, let delta): self = .increment(key, by: delta, when: conditions)
            case .scheduleTimer(let key, let delay, let payload):
                self = .scheduleTimer(key, after: delay, payload: payload, when: conditions)
            case .retireTimer(let key): self = .retireTimer(key, when: conditions)
            case .recordProgress(let run, let quietFor): self = .recordProgress(run: run, quietFor: quietFor, when: conditions)
            case .forgetProgress(let run): self = .forgetProgress(run: run, when: conditions)
            }
        }

        static func read(_ key: StoreKey, when conditions: Conditions = .always) -> Step { Step(.read, key, when: conditions) }

        static func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence?, when conditions: Conditions = .always) -> Step {
            Step(.setIfAbsent, key, bytes: value, fence: fence, when: conditions)
        }

        static func compareAndSet(
            _ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence?, when conditions: Conditions = .always
        ) -> Step {
            Step(.compareAndSet, key, bytes: new, expected: expected, fence: fence, when: conditions)
        }

        static func addToSet(_ key: StoreKey, member: String, when conditions: Conditions = .always) -> Step {
            Step(.addToSet, key, text: member, when: conditions)
        }

        static func increment(_ key: StoreKey, by delta: Int64, when conditions: Conditions = .always) -> Step {
            Step(.increment, key, number: UInt64(bitPattern: delta), when: conditions)
        }

        static func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8], when conditions: Conditions = .always)
            -> Step
        {
            Step(.scheduleTimer, key, bytes: payload, delay: delay, when: conditions)
        }

        static func retireTimer(_ key: StoreKey, when conditions: Conditions = .always) -> Step {
            Step(.retireTimer, key, when: conditions)
        }

        static func recordProgress(run: String, quietFor: Duration, when conditions: Conditions = .always) -> Step {
            Step(.recordProgress, StoreKey(run: run, name: ""), delay: quietFor, when: conditions)
        }

        static func forgetProgress(run: String, when conditions: Conditions = .always) -> Step {
            Step(.forgetProgress, StoreKey(run: run, name: ""), when: conditions)
        }

        /// A write's fence.
        var fence: Fence? {
            isFenced ? Fence(key: StoreKey(run: fenceRun ?? key.run, name: text), token: number) : nil
        }

        /// A set addition's member.
        var member: String { text }

        /// An increment's amount.
        var amount: Int64 { Int64(bitPattern: number) }

        /// A timer's delay, progress's quiet time.
        var delay: Duration { Duration(secondsComponent: Int64(bitPattern: number), attosecondsComponent: attoseconds) }

        /// The operation.
        public var operation: Operation {
            switch kind {
            case .read: .read(key)
            case .setIfAbsent: .setIfAbsent(key, value: bytes, fence: fence)
            case .compareAndSet: .compareAndSet(key, expected: expected, new: bytes, fence: fence)
            case .addToSet: .addToSet(key, member: member)
            case .increment: .increment(key, by: amount)
            case .scheduleTimer: .scheduleTimer(key, after: delay, payload: bytes)
            case .retireTimer: .retireTimer(key)
            case .recordProgress: .recordProgress(run: key.run, quietFor: delay)
            case .forgetProgress: .forgetProgress(run: key.run)
            }
        }

        /// The run whose records the step touches.
        public var run: String { key.run }

        /// Conditions on earlier operations; empty: always attempted.
        public var conditions: [Condition] {
            firstCondition.map { [$0.condition] + moreConditions } ?? []
        }
    }

    /// A ``Condition`` in 13 bytes instead of 17, so that a ``Step`` stays small.
    struct PackedCondition: Sendable, Hashable {
        enum Kind: UInt8, Sendable, Hashable { case stored, swapped, size }

        let step: Int
        /// A size condition's size; -1 for a size no set reaches (beyond `Int32`), which never holds.
        let size: Int32
        let kind: Kind

        init(_ condition: Condition) {
            switch condition {
            case .stored(let step): (self.step, self.size, self.kind) = (step, 0, .stored)
            case .swapped(let step): (self.step, self.size, self.kind) = (step, 0, .swapped)
            case .size(let step, let size): (self.step, self.size, self.kind) = (step, Int32(exactly: size) ?? -1, .size)
            }
        }

        var condition: Condition {
            switch kind {
            case .stored: .stored(step: step)
            case .swapped: .swapped(step: step)
            case .size: .size(step: step, equals: size == -1 ? -1 : Int(size))
            }
        }
    }

    /// The conditions of a step, all of which must hold: none (``always``), one, written
    /// `.stored(label)`, `.swapped(label)` or `.size(label, equals: n)` (which allocates nothing),
    /// or several, written as an array literal.
    public struct Conditions: Sendable, Hashable, ExpressibleByArrayLiteral {
        var first: PackedCondition?
        var more: [Condition]

        /// No condition: the step is always attempted.
        public static var always: Conditions { Conditions(first: nil, more: []) }

        private init(first: Condition?, more: [Condition]) {
            self.first = first.map(PackedCondition.init)
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
        public var all: [Condition] { first.map { [$0.condition] + more } ?? [] }
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

        mutating func note(_ step: Step, at index: Int) {
            switch step.kind {
            case .read:
                break
            case .setIfAbsent, .compareAndSet:
                if misfenced == nil, step.fenceRun != nil { misfenced = index }
                hasWrites = true
            case .addToSet, .increment, .retireTimer, .forgetProgress:
                hasWrites = true
            case .scheduleTimer, .recordProgress:
                hasWrites = true
                usesTime = true
            }
            let run = step.key.run
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
        guard let index = summary.misfenced, let fence = steps[index].fence else { return }
        throw WeftError(.invalidFence, "A fence guards keys of its own run: \(fence.key) cannot guard \(steps[index].key)")
    }

    /// Appends `step`; its conditions must name earlier steps.
    public mutating func append(_ step: Step) throws(WeftError) {
        for condition in step.conditions where condition.step < 0 || condition.step >= steps.count {
            throw WeftError(.invalidBatch, "A batch's condition names step \(condition.step) of \(steps.count) before it")
        }
        summary.note(step, at: steps.count)
        steps.append(step)
    }

    /// Appends a step and returns its index. Not generic, so that building a batch copies no
    /// step through run-time metadata.
    private mutating func add(_ step: consuming Step) -> Int {
        // A condition naming no earlier step (a label of another batch) never holds: see
        // ``Results/allows(_:)``.
        summary.note(step, at: steps.count)
        steps.append(step)
        return steps.count - 1
    }

    // MARK: Building

    /// Reads the value at `key`.
    @discardableResult
    public mutating func read(_ key: StoreKey, when conditions: Conditions = .always) -> Label<[UInt8]?> {
        Label(step: add(.read(key, when: conditions)))
    }

    /// Stores `value` at `key` unless it has one (see ``CoordinationStore/setIfAbsent(_:_:fence:)``).
    @discardableResult
    public mutating func setIfAbsent(_ key: StoreKey, _ value: [UInt8], fence: Fence? = nil, when conditions: Conditions = .always)
        -> Label<SetIfAbsentOutcome>
    {
        Label(step: add(.setIfAbsent(key, value, fence: fence, when: conditions)))
    }

    /// Replaces the value at `key` when it is `expected` (see
    /// ``CoordinationStore/compareAndSet(_:expected:new:fence:)``).
    @discardableResult
    public mutating func compareAndSet(
        _ key: StoreKey, expected: [UInt8]?, new: [UInt8], fence: Fence? = nil, when conditions: Conditions = .always
    ) -> Label<CompareAndSetOutcome> {
        Label(step: add(.compareAndSet(key, expected: expected, new: new, fence: fence, when: conditions)))
    }

    /// Adds `member` to the set at `key`; the outcome is the set's size afterwards.
    @discardableResult
    public mutating func addToSet(_ key: StoreKey, member: String, when conditions: Conditions = .always) -> Label<Int> {
        Label(step: add(.addToSet(key, member: member, when: conditions)))
    }

    /// Adds `delta` to the counter at `key`; the outcome is its new value.
    @discardableResult
    public mutating func increment(_ key: StoreKey, by delta: Int64, when conditions: Conditions = .always) -> Label<Int64> {
        Label(step: add(.increment(key, by: delta, when: conditions)))
    }

    /// Schedules a timer; the outcome says whether it was (see
    /// ``CoordinationStore/scheduleTimer(_:after:payload:)``).
    @discardableResult
    public mutating func scheduleTimer(_ key: StoreKey, after delay: Duration, payload: [UInt8], when conditions: Conditions = .always)
        -> Label<Bool>
    {
        Label(step: add(.scheduleTimer(key, after: delay, payload: payload, when: conditions)))
    }

    /// Retires the timer at `key` (see ``CoordinationStore/retireTimer(_:)``).
    @discardableResult
    public mutating func retireTimer(_ key: StoreKey, when conditions: Conditions = .always) -> Label<Void> {
        Label(step: add(.retireTimer(key, when: conditions)))
    }

    /// Notes progress of `run` (see ``CoordinationStore/recordProgress(run:quietFor:)``).
    @discardableResult
    public mutating func recordProgress(run: String, quietFor: Duration = .zero, when conditions: Conditions = .always) -> Label<Void> {
        Label(step: add(.recordProgress(run: run, quietFor: quietFor, when: conditions)))
    }

    /// Removes `run` from the progress index (see ``CoordinationStore/forgetProgress(run:)``).
    @discardableResult
    public mutating func forgetProgress(run: String, when conditions: Conditions = .always) -> Label<Void> {
        Label(step: add(.forgetProgress(run: run, when: conditions)))
    }
}
