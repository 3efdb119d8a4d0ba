import Testing

@testable import WeftAMQP

@Suite("Acknowledgements gathered per channel (AMQPAckLedger)")
struct AMQPAckLedgerTests {
    /// A ledger with deliveries `tags`.
    private func ledger(delivered tags: ClosedRange<UInt64>) -> AMQPAckLedger {
        var ledger = AMQPAckLedger()
        for tag in tags { ledger.delivered(tag) }
        return ledger
    }

    @Test("The earliest deliveries, all acknowledged, go as one multiple acknowledgement")
    func prefixAsOne() {
        var ledger = ledger(delivered: 1...5)
        for tag: UInt64 in [2, 1, 3] { ledger.acknowledge(tag) }
        let sent = ledger.flush()
        #expect(sent.upTo == 3 && sent.alone.isEmpty)
        #expect(!ledger.hasAcknowledgements)
        ledger.acknowledge(5)
        ledger.acknowledge(4)
        #expect(ledger.flush() == (upTo: 5, alone: []))
    }

    @Test("Acknowledgements behind an unsettled delivery go alone, at once, and are skipped later")
    func behindAnUnsettledOne() {
        var ledger = ledger(delivered: 1...6)
        ledger.acknowledge(4)
        ledger.acknowledge(2)
        let first = ledger.flush()
        #expect(first.upTo == nil && first.alone == [2, 4])
        // 1 settles: the multiple acknowledgement stops at 3 (unsettled), and it covers 1 only:
        // 2 went alone already, which a multiple acknowledgement up to 1 does not touch.
        ledger.acknowledge(1)
        #expect(ledger.flush() == (upTo: 1, alone: []))
        // 3 settles: up to 3; 4 went alone before, so the prefix runs on to 5, unsettled.
        ledger.acknowledge(3)
        #expect(ledger.flush() == (upTo: 3, alone: []))
        ledger.acknowledge(6)
        ledger.acknowledge(5)
        #expect(ledger.flush() == (upTo: 6, alone: []))
    }

    @Test("A requeued delivery is never covered by a multiple acknowledgement's tag, and does not hold the others back")
    func requeued() {
        var ledger = ledger(delivered: 1...4)
        ledger.settled(1)  // requeued on its own
        ledger.acknowledge(2)
        ledger.acknowledge(3)
        #expect(ledger.flush() == (upTo: 3, alone: []))
        ledger.settled(4)
        #expect(ledger.flush() == (upTo: nil, alone: []))
        // Delivered again (a new tag), then acknowledged.
        ledger.delivered(5)
        ledger.acknowledge(5)
        #expect(ledger.flush() == (upTo: 5, alone: []))
    }

    @Test("Behind a delivery that stays unsettled, the ledger holds about what is unsettled, not all that went by")
    func boundedBehindALongJob() {
        var ledger = AMQPAckLedger()
        ledger.delivered(1)  // a long job: never settled here
        for tag: UInt64 in 2...100_001 {
            ledger.delivered(tag)
            ledger.acknowledge(tag)
            #expect(ledger.flush() == (upTo: nil, alone: [tag]))
        }
        #expect(ledger.trackedCount < 1_000, "\(ledger.trackedCount) tags held")
        // The long job settles: it alone is acknowledged, and the next ones go as one.
        ledger.acknowledge(1)
        #expect(ledger.flush() == (upTo: 1, alone: []))
        ledger.delivered(100_002)
        ledger.delivered(100_003)
        ledger.acknowledge(100_003)
        ledger.acknowledge(100_002)
        #expect(ledger.flush() == (upTo: 100_003, alone: []))
        #expect(ledger.trackedCount == 0)
    }

    @Test("An acknowledgement of a tag the ledger never saw goes alone and leaves nothing behind")
    func unknownTag() {
        var ledger = AMQPAckLedger()
        ledger.acknowledge(7)
        #expect(ledger.flush() == (upTo: nil, alone: [7]))
        ledger.delivered(8)
        ledger.acknowledge(8)
        #expect(ledger.flush() == (upTo: 8, alone: []))
    }
}
