import Testing
import Weft

/// Issue 24: queue labels went unchecked into queue names; a 300-character label made
/// `weft start` reconnect for ever, one with a NUL or `../` closed the broker's channel and left
/// a stray queue. A label is checked wherever a blueprint is: `validate`, a run's start, a
/// worker's catalog.
@Suite("Queue labels")
struct QueueLabelTests {
    private func blueprint(label: String) -> Blueprint {
        Workflow("labelled") { Node("a", echo).queue(label) }.blueprint
    }

    @Test("Labels of letters, digits, '-', '_' and inner dots are valid")
    func validLabels() {
        for label in ["gpu", "gpu-2.large", "A_b", String(repeating: "x", count: 64)] {
            #expect(blueprint(label: label).validate().isValid, "\(label)")
        }
    }

    @Test("Empty, long, dotted-path, spaced and control-character labels are refused, named safely")
    func invalidLabels() throws {
        for label in ["", String(repeating: "x", count: 300), "../etc", "a..b", ".hidden", "a b", "nul\u{0}byte", "esc\u{1B}[2J", "é"] {
            let report = blueprint(label: label).validate()
            let issue = try #require(report.issues.first { $0.code == .invalidQueueLabel }, "\(label.debugDescription)")
            #expect(issue.nodeID == "a")
            // The message never carries the label's control characters raw.
            #expect(!issue.message.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(issue.message)")
        }
    }

    @Test("A run of a blueprint with a bad label is refused at its start, with the reason")
    func refusedAtStart() async throws {
        let workflow = Workflow("bad-label") { Node("a", echo).queue(String(repeating: "q", count: 300)) }
        let error = await #expect(throws: WeftError.self) { _ = try await LocalRuntime(workflow).run(workflow) }
        #expect(error?.code == .invalidBlueprint)
        #expect(error?.message.contains("queue label") == true)
    }
}
