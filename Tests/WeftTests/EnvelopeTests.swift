import Testing
import Weft

@Suite("Envelope")
struct EnvelopeTests {
    static let sample = Envelope(
        kind: .job, runID: "3f9a1c-1a", blueprintID: "orders", blueprintVersion: "7", nodeID: "charge", iteration: 2,
        attempt: 3, fencingToken: 3 << 32 | 5, traceContext: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        payload: ["id": "A-17", "lines": [1, 2.5, true, .null], "nested": ["deep": ["x": -42]]])

    @Test("Round-trips every field")
    func roundTrip() throws {
        let decoded = try Envelope(decoding: Self.sample.encoded())
        #expect(decoded == Self.sample)
    }

    @Test("A newer minor version with fields appended is read; a newer major version is refused")
    func versions() throws {
        var minor = Self.sample.encoded()
        minor[3] = 9
        minor.append(contentsOf: [1, 2, 3])  // a field this version does not know
        let decoded = try Envelope(decoding: minor)
        #expect(decoded.runID == Self.sample.runID)
        #expect(decoded.payload == Self.sample.payload)
        var major = Self.sample.encoded()
        major[2] = 2
        major[3] = 0
        #expect(throws: WeftError.self) { try Envelope(decoding: major) }
        do {
            _ = try Envelope(decoding: major)
        } catch {
            #expect(error.code == .unsupportedVersion)
            #expect(error.message.contains("2.0"))
        }
    }

    @Test("Every truncation of a valid envelope is a typed error, never a crash")
    func truncations() {
        let bytes = Self.sample.encoded()
        for length in 0..<bytes.count {
            #expect(throws: WeftError.self) { try Envelope(decoding: Array(bytes.prefix(length))) }
        }
    }

    @Test("Hostile lengths, nesting and UTF-8 are refused")
    func hostile() {
        let header: [UInt8] = [0x57, 0x46, 1, 0, 1]
        // A run id claiming 2^40 bytes.
        #expect(throws: WeftError.self) { try Envelope(decoding: header + [0x80, 0x80, 0x80, 0x80, 0x80, 0x20]) }
        // Invalid UTF-8 in the run id.
        #expect(throws: WeftError.self) { try Envelope(decoding: header + [2, 0xFF, 0xFE]) }
        // An unknown kind.
        #expect(throws: WeftError.self) { try Envelope(decoding: [0x57, 0x46, 1, 0, 99]) }
        // A payload nested 10,000 deep.
        var deep = Self.sample
        deep.payload = .null
        var encoded = Array(deep.encoded().dropLast())
        encoded += Array(repeating: [6, 1], count: 10_000).flatMap { $0 } + [0]
        #expect(throws: WeftError.self) { try Envelope(decoding: encoded) }
        // A number that is not finite (NaN, found by fuzzing: JSON has no such value).
        for bits in [Double.nan.bitPattern, Double.infinity.bitPattern] {
            let number = (0..<8).map { UInt8(truncatingIfNeeded: bits >> UInt64($0 * 8)) }
            #expect(throws: WeftError.self) { try Envelope(decoding: Array(deep.encoded().dropLast()) + [4] + number) }
        }
        // An array claiming more elements than bytes left.
        encoded = Array(deep.encoded().dropLast()) + [6, 0xFF, 0xFF, 0x03]
        #expect(throws: WeftError.self) { try Envelope(decoding: encoded) }
    }

    @Test("Random bytes never crash the decoder")
    func randomBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let count = Int.random(in: 0..<64, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if bytes.count > 5 && Bool.random(using: &generator) { bytes.replaceSubrange(0..<5, with: [0x57, 0x46, 1, 0, 1]) }
            _ = try? Envelope(decoding: bytes)
        }
    }
}
