import Testing
@testable import Weft

/// The bad-input matrix: hostile messages reaching a worker, each with the outcome it must get.
/// Every one is settled with a typed reason (a dead letter, a drop, or left for another worker),
/// the worker goes on, and a run started afterwards is unaffected.
@Suite("Bad-input matrix: hostile messages reaching a worker")
struct BadInputMatrixTests {
    enum Expected: CustomStringConvertible {
        /// Dead-lettered, the reason containing this text.
        case deadLetter(String)
        /// Dropped, the reason containing this text.
        case dropped(String)
        /// Left for a worker that has the blueprint.
        case left
        /// Any settlement but completion (random bytes: what matters is that nothing crashes).
        case refused

        var description: String {
            switch self {
            case .deadLetter(let text): "dead letter (\(text))"
            case .dropped(let text): "dropped (\(text))"
            case .left: "left"
            case .refused: "refused"
            }
        }

        func matches(_ outcome: DeliveryOutcome?) -> Bool {
            switch (self, outcome) {
            case (.deadLetter(let text), .deadLettered(let reason)?): reason.contains(text)
            case (.dropped(let text), .dropped(let reason)?): reason.contains(text)
            case (.left, .left?): true
            case (.refused, .deadLettered?), (.refused, .dropped?), (.refused, .left?): true
            default: false
            }
        }
    }

    static let header: [UInt8] = [0x57, 0x46, 1, 1, 1]  // "WF", format 1.1, a job

    /// A valid job of `chain` for `run`, editable.
    static func job(
        run: String, node: String = "a", blueprint: String = "chain", version: String = "1", kind: Envelope.Kind = .job,
        attempt: Int = 1, payload: JSONValue = 1
    ) -> Envelope {
        Envelope(
            kind: kind, runID: run, blueprintID: blueprint, blueprintVersion: version, nodeID: node, attempt: attempt,
            fencingToken: 1 << 32, payload: payload)
    }

    /// An encoded job whose payload is replaced by `payload` (raw tagged binary JSON).
    static func job(run: String, rawPayload payload: [UInt8]) -> [UInt8] {
        Array(job(run: run, payload: .null).encoded().dropLast()) + payload
    }

    static func double(_ value: Double) -> [UInt8] {
        [4] + (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> UInt64($0 * 8)) }
    }

    /// The matrix: a name, the message, and the outcome it must get. `run` is a finished run of `chain`.
    static func matrix(run: String, limit: Int) -> [(String, [UInt8], Expected)] {
        let valid = job(run: run).encoded()
        var cases: [(String, [UInt8], Expected)] = [
            ("empty", [], .deadLetter("malformed_message")),
            ("one byte", [0x57], .deadLetter("malformed_message")),
            ("magic only", [0x57, 0x46], .deadLetter("malformed_message")),
            ("header cut after the version", [0x57, 0x46, 1, 1], .deadLetter("malformed_message")),
            ("wrong magic", [0x58, 0x46, 1, 1, 1, 0], .deadLetter("malformed_message")),
            ("plain text", Array("not an envelope at all".utf8), .deadLetter("malformed_message")),
            ("a JSON document", Array(#"{"runID": "x", "nodeID": "a"}"#.utf8), .deadLetter("malformed_message")),
            ("newer major version", [0x57, 0x46, 2, 0] + Array(valid.dropFirst(4)), .deadLetter("unsupported_version")),
            ("major version 255", [0x57, 0x46, 255, 0] + Array(valid.dropFirst(4)), .deadLetter("unsupported_version")),
            ("kind 0", [0x57, 0x46, 1, 1, 0] + Array(valid.dropFirst(5)), .deadLetter("malformed_message")),
            ("kind 99", [0x57, 0x46, 1, 1, 99] + Array(valid.dropFirst(5)), .deadLetter("malformed_message")),
            ("a run announcement on a job queue", job(run: run, kind: .runFinished).encoded(), .deadLetter("does not belong")),
            ("a resume for a node that is not a control node", job(run: run, kind: .resume).encoded(), .deadLetter("takes no resume")),
            ("a run id claiming 2^40 bytes", header + [0x80, 0x80, 0x80, 0x80, 0x80, 0x20], .deadLetter("malformed_message")),
            ("a length that overflows", header + Array(repeating: 0xFF, count: 12) + [1], .deadLetter("malformed_message")),
            ("invalid UTF-8 in the run id", header + [2, 0xFF, 0xFE], .deadLetter("malformed_message")),
            ("invalid UTF-8 in the payload", job(run: run, rawPayload: [5, 3, 0xC3, 0x28, 0xA0]), .deadLetter("malformed_message")),
            ("a payload nested 10,000 deep", job(run: run, rawPayload: Array(repeating: [6, 1], count: 10_000).flatMap { $0 } + [0]),
             .deadLetter("malformed_message")),
            ("an object nested 10,000 deep", job(run: run, rawPayload: Array(repeating: [7, 1, 1, 0x6B], count: 10_000).flatMap { $0 } + [0]),
             .deadLetter("malformed_message")),
            ("an array claiming more elements than bytes", job(run: run, rawPayload: [6, 0xFF, 0xFF, 0xFF, 0x0F]), .deadLetter("malformed_message")),
            ("a huge array count", job(run: run, rawPayload: [6] + Array(repeating: 0xFF, count: 9) + [1]), .deadLetter("malformed_message")),
            ("an unknown JSON tag", job(run: run, rawPayload: [42]), .deadLetter("malformed_message")),
            ("a NaN", job(run: run, rawPayload: double(.nan)), .deadLetter("malformed_message")),
            ("an infinity", job(run: run, rawPayload: double(-.infinity)), .deadLetter("malformed_message")),
            ("a truncated number", job(run: run, rawPayload: [4, 1, 2, 3]), .deadLetter("malformed_message")),
            ("a truncated string", job(run: run, rawPayload: [5, 10, 0x61]), .deadLetter("malformed_message")),
            ("a message over the size limit", header + Array(repeating: 0, count: limit), .deadLetter("payload_too_large")),
            ("an unknown node", job(run: run, node: "nope").encoded(), .deadLetter("has no node \"nope\"")),
            ("an empty node id", job(run: run, node: "").encoded(), .deadLetter("node id is empty")),
            ("an unknown run", job(run: "no-such-run").encoded(), .deadLetter("no run \"no-such-run\"")),
            ("a run id with path characters", job(run: "../../etc/passwd").encoded(), .deadLetter("no run")),
            ("a run id with a NUL", job(run: "run\u{0}x").encoded(), .deadLetter("contains a control")),
            ("a run id with an escape sequence", job(run: "run\u{1B}[2J").encoded(), .deadLetter("contains a control")),
            ("a run id with a bidirectional override", job(run: "run\u{202E}x").encoded(), .deadLetter("contains a control")),
            ("a run id of 100,000 characters", job(run: String(repeating: "r", count: 100_000)).encoded(), .deadLetter("more than 400")),
            ("a run id of 600 characters naming an unknown blueprint",
             job(run: String(repeating: "r", count: 600), blueprint: "no-such-blueprint").encoded(), .deadLetter("more than 400")),
            ("a node id with a NUL", job(run: run, node: "a\u{0}").encoded(), .deadLetter("contains a control")),
            ("a blueprint id of 300 characters", job(run: run, blueprint: String(repeating: "b", count: 300)).encoded(),
             .deadLetter("more than 200")),
            ("an empty blueprint version", job(run: run, version: "").encoded(), .deadLetter("version is empty")),
            ("an unknown blueprint naming an unknown run", job(run: "made-up", blueprint: "no-such-blueprint").encoded(),
             .deadLetter("no run \"made-up\"")),
            ("attempt 0", job(run: run, attempt: 0).encoded(), .deadLetter("attempt 0 is not valid")),
            ("a negative attempt", job(run: run, attempt: -3).encoded(), .refused),
            ("a blueprint version a finished run is not pinned to", job(run: run, version: "2").encoded(), .dropped("already completed")),
            ("an unknown blueprint of a finished run", job(run: run, blueprint: "no-such-blueprint").encoded(), .dropped("already completed")),
            ("a duplicate of a finished run's job", valid, .dropped("already completed")),
        ]
        for length in [5, 8, 12, valid.count / 2, valid.count - 1] {
            cases.append(("a valid job cut to \(length) bytes", Array(valid.prefix(length)), .deadLetter("malformed_message")))
        }
        var random = SplitMix64(seed: 0x5EED)
        for index in 0..<10 {
            let count = Int(random.next() % 200)
            cases.append(("random bytes after the header (\(index))", header + (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }, .refused))
        }
        return cases
    }

    @Test("Each of over 50 hostile messages gets its typed outcome; the worker goes on and other runs are unaffected")
    func matrix() async throws {
        var options = FleetOptions()
        options.maxMessageSize = 256 << 10
        let fleet = try ManualFleet([DistributedBadInputTests.chain], fleet: options)
        let finished = try await fleet.client.start(DistributedBadInputTests.chain.blueprint, input: 1)
        try await fleet.drain()
        #expect(try await finished.result().output == 20)
        let cases = Self.matrix(run: finished.runID, limit: options.maxMessageSize)
        #expect(cases.count >= 40)
        var deadLetters = 0
        for (name, bytes, expected) in cases {
            try await fleet.publish(bytes)
            let outcome = try await fleet.step()
            #expect(expected.matches(outcome), "\(name): expected \(expected), got \(String(describing: outcome))")
            if case .deadLettered? = outcome { deadLetters += 1 }
            // A job left for another worker comes back through a timer; nothing else is queued.
            #expect(try await fleet.transport.depth(of: fleet.jobs) == 0, "\(name) left a message behind")
        }
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 1000).count == deadLetters)
        // The finished run is as it was, and a new one runs normally.
        let after = try await finished.result()
        #expect(after.output == 20 && after.nodes.map(\.status) == [.completed, .completed])
        let fresh = try await fleet.client.start(DistributedBadInputTests.chain.blueprint, input: 4)
        try await fleet.drain()
        #expect(try await fresh.result().output == 50)
        await fleet.shutdown()
    }

    @Test("A hundred jobs naming an unknown blueprint and a made-up run are dead-lettered at once: no timer, no record, nothing bounces")
    func unknownBlueprintOfUnknownRun() async throws {
        let holder = StoreHolder()
        let fleet = try ManualFleet([DistributedBadInputTests.chain]) { store in
            holder.store = store
            return store
        }
        for index in 0..<100 {
            try await fleet.publish(Self.job(run: "made-up-\(index)", blueprint: "no-such-blueprint").encoded())
        }
        let outcomes = try await fleet.drain()
        #expect(outcomes.count == 100)
        #expect(outcomes.allSatisfy { if case .deadLettered(let reason) = $0 { reason.contains("is known to the store") } else { false } })
        // Nothing comes back: no timer was scheduled, no record made for the made-up runs.
        fleet.clock.advance(by: .seconds(3600))
        #expect(try await fleet.workers[0].fireDueTimers() == 0)
        #expect(try await fleet.transport.depth(of: fleet.jobs) == 0)
        #expect(holder.store?.runCount == 0)
        #expect(try await fleet.transport.deadLetters(of: fleet.jobs, limit: 1000).count == 100)
        await fleet.shutdown()
    }
}

/// The in-memory store a ``ManualFleet`` made, kept for a test to inspect.
final class StoreHolder: @unchecked Sendable {
    var store: InMemoryCoordinationStore?
}
