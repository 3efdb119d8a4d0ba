/// A run's end as store writes: its terminal status, set from absent, and what the end leaves
/// behind, written in the same batch only when the status was set (see ``StoreBatch``): the
/// marker that notes the client was told, the deadline timer retired, the run out of the
/// progress index, the expiry timer that deletes its records after the retention.
struct RunEnd: Sendable {
    /// The timer that removes a finished run's records once its retention ends.
    struct Expiry: Sendable {
        var key: StoreKey
        var after: Duration
        var payload: [UInt8]
    }

    var run: String
    /// The terminal status record, encoded.
    var terminal: [UInt8]
    /// Stored (if absent) with the end: the announcement of the end is due.
    var marker: StoreKey?
    /// The timer retired with the end.
    var cancelling: StoreKey?
    var expiry: Expiry?

    /// Adds the status's compare-and-set from absent, attempted when `conditions` hold, and the
    /// end's records, attempted when it swapped; returns the compare-and-set's label.
    func addFinish(to batch: inout StoreBatch, when conditions: StoreBatch.Conditions = .always)
        -> StoreBatch.Label<CompareAndSetOutcome>
    {
        let swapped = batch.compareAndSet(RunKeys.status(run), expected: nil, new: terminal, when: conditions)
        addRecords(to: &batch, when: .swapped(swapped))
        return swapped
    }

    /// Adds the end's records alone (the status was set by an earlier batch), attempted when
    /// `conditions` hold.
    func addRecords(to batch: inout StoreBatch, when conditions: StoreBatch.Conditions = .always) {
        if let marker { batch.setIfAbsent(marker, [1], when: conditions) }
        if let cancelling { batch.retireTimer(cancelling, when: conditions) }
        batch.forgetProgress(run: run, when: conditions)
        if let expiry { batch.scheduleTimer(expiry.key, after: expiry.after, payload: expiry.payload, when: conditions) }
    }
}
