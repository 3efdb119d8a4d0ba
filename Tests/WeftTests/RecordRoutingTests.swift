import Testing
@testable import Weft

@Suite("A node record's routing, read without its output")
struct RecordRoutingTests {
    @Test("The status and taken edges read past any output, action and edge values, and truncation is an error")
    func routingOnly() throws {
        var record = NodeResultRecord(status: .completed)
        record.attempt = 2
        record.output = ["nested": [1, 2.5, "three", ["deep": true, "none": nil]], "text": "é"]
        record.action = "approve"
        record.taken = [.init(edge: 3, value: ["carried": 1]), .init(edge: 7, value: nil)]
        record.log = [AttemptRecord(attempt: 1, startedAt: 1, endedAt: 2, failure: NodeFailure(message: "x", errorType: "E"))]
        let bytes = record.encoded()
        let routing = try NodeResultRecord.routing(decoding: bytes)
        #expect(routing.status == .completed && routing.taken == [3, 7])
        for edge in 0...8 {
            let takes = try NodeResultRecord.routing(decoding: bytes, takes: edge)
            #expect(takes.status == .completed && takes.takes == (edge == 3 || edge == 7))
        }
        #expect(try NodeResultRecord(decoding: bytes) == record)
        let skipped = try NodeResultRecord.routing(decoding: NodeResultRecord.skipped.encoded())
        #expect(skipped.status == .skipped && skipped.taken.isEmpty)
        #expect(throws: WeftError.self) { try NodeResultRecord.routing(decoding: Array(bytes.prefix(12))) }
    }
}
