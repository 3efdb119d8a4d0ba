extension StoreBatch {
    /// What each operation of a batch did, read by the operation's ``Label``; a store that applies
    /// a batch itself builds it, one ``Outcome`` per operation, in order.
    public struct Results: Sendable, Hashable {
        /// What one operation did.
        public enum Outcome: Sendable, Hashable {
            /// Its conditions did not hold: it was not attempted.
            case notAttempted
            /// A read's value.
            case read([UInt8]?)
            /// A set-if-absent's outcome.
            case set(SetIfAbsentOutcome)
            /// A compare-and-set's outcome.
            case swap(CompareAndSetOutcome)
            /// A set addition's set size afterwards.
            case size(Int)
            /// A counter's value afterwards.
            case count(Int64)
            /// Whether a timer was scheduled.
            case scheduled(Bool)
            /// An operation with nothing to report was applied.
            case done
        }

        /// The outcomes, one per operation, in order.
        public private(set) var outcomes: [Outcome] = []

        /// No outcome yet.
        public init() {}

        /// No outcome yet, with room for `capacity`.
        public init(capacity: Int) {
            outcomes.reserveCapacity(capacity)
        }

        /// Appends the outcome of the next operation.
        public mutating func append(_ outcome: Outcome) {
            outcomes.append(outcome)
        }

        /// Whether the conditions of `step`, the next operation, hold given the outcomes so far.
        public func allows(_ step: Step) -> Bool {
            withUnsafePointer(to: step) { allows(conditionsOf: $0) }
        }

        /// ``allows(_:)`` for a step read in place.
        func allows(conditionsOf step: UnsafePointer<Step>) -> Bool {
            guard let first = step.pointee.firstCondition else { return true }
            guard holds(first) else { return false }
            guard let rare = step.pointee.rare else { return true }
            for condition in rare.moreConditions where !holds(condition) { return false }
            return true
        }

        private func holds(_ condition: Condition) -> Bool {
            holds(PackedCondition(condition))
        }

        private func holds(_ condition: PackedCondition) -> Bool {
            guard condition.step >= 0, condition.step < outcomes.count else { return false }
            switch (condition.kind, outcomes[condition.step]) {
            case (.stored, .set(.stored)), (.swapped, .swap(.swapped)): return true
            case (.size, .size(let size)): return size == Int(condition.size)
            default: return false
            }
        }

        /// A read's value: `nil` when absent or not attempted (see ``attempted(_:)``).
        public subscript(label: Label<[UInt8]?>) -> [UInt8]? {
            if case .read(let value) = outcome(label.step) { value } else { nil }
        }

        /// A set-if-absent's outcome, or `nil` when it was not attempted.
        public subscript(label: Label<SetIfAbsentOutcome>) -> SetIfAbsentOutcome? {
            if case .set(let outcome) = outcome(label.step) { outcome } else { nil }
        }

        /// A compare-and-set's outcome, or `nil` when it was not attempted.
        public subscript(label: Label<CompareAndSetOutcome>) -> CompareAndSetOutcome? {
            if case .swap(let outcome) = outcome(label.step) { outcome } else { nil }
        }

        /// A set's size after an addition, or `nil` when it was not attempted.
        public subscript(label: Label<Int>) -> Int? {
            if case .size(let size) = outcome(label.step) { size } else { nil }
        }

        /// A counter's value after an increment, or `nil` when it was not attempted.
        public subscript(label: Label<Int64>) -> Int64? {
            if case .count(let value) = outcome(label.step) { value } else { nil }
        }

        /// Whether a timer was scheduled, or `nil` when the operation was not attempted.
        public subscript(label: Label<Bool>) -> Bool? {
            if case .scheduled(let scheduled) = outcome(label.step) { scheduled } else { nil }
        }

        /// Whether the labelled operation was attempted (its conditions held).
        public func attempted<Value>(_ label: Label<Value>) -> Bool {
            outcome(label.step) != .notAttempted
        }

        private func outcome(_ step: Int) -> Outcome {
            step >= 0 && step < outcomes.count ? outcomes[step] : .notAttempted
        }
    }
}
