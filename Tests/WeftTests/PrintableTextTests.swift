import Testing
import Weft

/// Issue 24: escape codes and newlines from node ids and messages reached the terminal raw;
/// `weft validate` could be made to print a forged `FAKE: valid` line. Errors and validation
/// issues escape the control characters they quote.
@Suite("Printable errors")
struct PrintableTextTests {
    private static let hostile = "x\nFAKE: valid\u{1B}[2J\u{7}\u{202E}evil\u{2028}\u{9B}31m"

    private func isPrintable(_ text: String) -> Bool {
        !text.unicodeScalars.contains { scalar in
            scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
                || scalar.properties.generalCategory == .lineSeparator
        }
    }

    @Test("A node id with a newline, escape codes and a bidirectional override cannot forge a line of validate's report")
    func validationReport() {
        let workflow = Workflow("hostile") {
            Node(Self.hostile, echo)
            Node("b", echo)
            Edge(Self.hostile, to: "b", when: "output.x >")
        }
        let report = workflow.blueprint.validate()
        #expect(!report.isValid)
        for issue in report.issues {
            #expect(isPrintable(issue.message), "\(issue.message.debugDescription)")
            #expect(issue.message.contains(#"\u{A}FAKE: valid\u{1B}[2J"#), "\(issue.message)")
        }
        // One line per issue: no line of the report is the forged one.
        #expect(!report.description.split(separator: "\n").contains { $0.hasPrefix("FAKE") })
        // The id itself is kept as given: only what is printed is escaped.
        #expect(workflow.blueprint.nodes[0].id == Self.hostile)
    }

    @Test("An error quoting a hostile id escapes it; ordinary text is unchanged")
    func errors() {
        let error = WeftError(.unknownRun, "No run \"\(Self.hostile)\" is known to the store")
        #expect(isPrintable(error.message), "\(error.message.debugDescription)")
        #expect(error.message.hasPrefix(#"No run "x\u{A}FAKE: valid\u{1B}[2J\u{7}\u{202E}evil\u{2028}\u{9B}31m""#), "\(error.message)")
        let plain = "Blueprint \"orders\" v2 has no node \"chargé → 済\""
        #expect(WeftError(.unknownNode, plain).message == plain)
    }

    @Test("Mermaid and DOT labels render a hostile id as text: no HTML, no line of its own")
    func graphLabels() {
        let html = "<img src=x onerror=alert(1)>"
        let directive = "a\nclick n0 call evil()"
        let workflow = Workflow("drawn") {
            Node(html, echo)
            Node(directive, echo)
            Edge(html, to: directive)
        }
        let mermaid = GraphRenderer.mermaid(workflow.blueprint)
        #expect(!mermaid.contains("<img"), "\(mermaid)")
        #expect(mermaid.contains("#60;img src=x onerror=alert(1)#62;"), "\(mermaid)")
        #expect(!mermaid.split(separator: "\n").contains { $0.trimmingPrefix(" ").hasPrefix("click") }, "\(mermaid)")
        let dot = GraphRenderer.dot(workflow.blueprint)
        #expect(!dot.split(separator: "\n").contains { $0.trimmingPrefix(" ").hasPrefix("click") }, "\(dot)")
    }
}
