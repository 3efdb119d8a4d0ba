import DequeModule

/// A consumer channel's unsettled deliveries, in delivery order, so that a run of
/// acknowledgements can go as one `basic.ack` with `multiple` set: when the channel's earliest
/// deliveries are all acknowledged, one frame settles them, and the broker handles one
/// acknowledgement instead of many (a group commit settles its deliveries together).
///
/// A multiple acknowledgement up to tag *t* settles every delivery up to *t* still unsettled,
/// so it is sent only for a prefix of the channel's deliveries that are all settled; any other
/// acknowledgement goes alone, at once. Nothing is held back for later.
struct AMQPAckLedger {
    /// Tags delivered and not yet known to be settled, in delivery order (tags grow on a channel).
    private var outstanding: Deque<UInt64> = []
    /// Tags settled on their own (acknowledged alone, or requeued) while earlier ones were not.
    private var settledAhead: Set<UInt64> = []
    /// Tags acknowledged since the last ``flush()``.
    private var acknowledged: Set<UInt64> = []

    /// Notes a delivery.
    mutating func delivered(_ tag: UInt64) {
        outstanding.append(tag)
    }

    /// Notes an acknowledgement, to send at the next ``flush()``.
    mutating func acknowledge(_ tag: UInt64) {
        acknowledged.insert(tag)
    }

    /// Notes a delivery settled by other means (a requeue sent on its own).
    mutating func settled(_ tag: UInt64) {
        if let first = outstanding.first, tag >= first { settledAhead.insert(tag) }
    }

    /// Whether acknowledgements wait for ``flush()``.
    var hasAcknowledgements: Bool { !acknowledged.isEmpty }

    /// What to send for the acknowledgements noted: `upTo`, a tag whose multiple
    /// acknowledgement settles the acknowledged prefix of the deliveries (`nil`: none), and
    /// `alone`, the other tags, each to acknowledge on its own.
    mutating func flush() -> (upTo: UInt64?, alone: [UInt64]) {
        var upTo: UInt64?
        while let first = outstanding.first {
            if acknowledged.remove(first) != nil {
                upTo = first
            } else if settledAhead.remove(first) == nil {
                break
            }
            outstanding.removeFirst()
        }
        let alone = acknowledged.sorted()
        acknowledged.removeAll(keepingCapacity: true)
        for tag in alone { settled(tag) }
        compactIfNeeded()
        return (upTo, alone)
    }

    /// How many tags the ledger holds: for tests of its bound.
    var trackedCount: Int { outstanding.count + settledAhead.count }

    /// Drops the settled tags kept behind an unsettled one (a long job holding the front while
    /// others go by), once they outnumber the rest: what the ledger holds stays proportional
    /// to the deliveries still unsettled, not to those settled since the oldest of them.
    private mutating func compactIfNeeded() {
        guard settledAhead.count > 256, settledAhead.count * 2 > outstanding.count else { return }
        let settled = settledAhead
        outstanding.removeAll { settled.contains($0) }
        settledAhead.removeAll(keepingCapacity: true)
    }
}
