import Testing
@testable import Weft

/// An integer beyond 64 bits in JSON (a `--input`, params) silently became the nearest double,
/// another number (issue 24, a weak point). It is kept exact when a double holds it, refused
/// otherwise.
@Suite("Big integers in JSON")
struct BigIntegerTests {
    @Test("An integer a double would change is refused with the number it would become; one it holds exactly is kept")
    func bigIntegers() throws {
        let error = #expect(throws: WeftError.self) { try JSONValue(parsing: #"{"id": 12345678901234567890}"#) }
        #expect(error?.code == .malformedJSON)
        #expect(error?.message.contains("12345678901234567890") == true && error?.message.contains("12345678901234567168") == true, "\(String(describing: error))")
        #expect(throws: WeftError.self) { try JSONValue(parsing: "[-98765432109876543210]") }
        // Within 64 bits: an exact integer.
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(.max))
        #expect(try JSONValue(parsing: "-9223372036854775808") == .int(.min))
        // A double that is the very number (2^64, 1e20), and ordinary doubles, are kept.
        #expect(try JSONValue(parsing: "18446744073709551616") == .double(18446744073709551616))
        #expect(try JSONValue(parsing: "1e20") == .double(1e20))
        #expect(try JSONValue(parsing: "0.1") == .double(0.1))
        #expect(try JSONValue(parsing: "12345678901234567890.5") == .double(12345678901234567890.5))
    }
}
