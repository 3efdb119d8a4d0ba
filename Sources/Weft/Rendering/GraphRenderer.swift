/// Draws a blueprint as a Mermaid flowchart or a Graphviz DOT graph, optionally coloured by a
/// finished run: green for nodes that ran, red for the failed one, grey for skipped ones.
///
/// ```swift
/// print(GraphRenderer.mermaid(blueprint, run: result))
/// ```
public enum GraphRenderer {
    /// The Mermaid `flowchart` text for `blueprint`.
    public static func mermaid(_ blueprint: Blueprint, run: RunResult? = nil) -> String {
        var lines = ["flowchart TD"]
        let ids = identifiers(for: blueprint)
        drawMermaid(blueprint, ids: ids, prefix: "", indent: "    ", into: &lines)
        if let run {
            lines.append("    classDef ran fill:#d4f7d4,stroke:#2e7d32")
            lines.append("    classDef failed fill:#ffd6d6,stroke:#c62828")
            lines.append("    classDef skipped fill:#eeeeee,stroke:#9e9e9e,color:#9e9e9e")
            lines.append("    classDef interrupted fill:#fff3cd,stroke:#b58900")
            for record in run.nodes {
                guard let id = ids[record.nodeID], let style = style(for: record.status) else { continue }
                lines.append("    class \(id) \(style)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Draws the nodes and edges of `blueprint` (a loop body: inside a subgraph, its ids prefixed).
    private static func drawMermaid(
        _ blueprint: Blueprint, ids: [String: String], prefix: String, indent: String, into lines: inout [String]
    ) {
        for node in blueprint.nodes {
            let id = prefix + ids[node.id]!
            let name = escape(node.id)
            guard ControlNode.isReserved(node.uses), let control = try? ControlNode(node, parent: blueprint) else {
                if node.uses == ControlNode.Kind.breakLoop.rawValue {
                    lines.append("\(indent)\(id)([\"\(name)<br/><small>break loop</small>\"])")
                } else {
                    lines.append("\(indent)\(id)[\"\(name)<br/><small>\(escape(node.uses))</small>\"]")
                }
                continue
            }
            switch control {
            case .loop(let loop):
                var detail = "loop"
                if let condition = loop.condition { detail += " while \(condition.source)" }
                detail += ", at most \(loop.maxIterations)"
                lines.append("\(indent)\(id)[[\"\(name)<br/><small>\(escape(detail))</small>\"]]")
                switch loop.body {
                case .inline(let body):
                    let bodyID = id + "_body"
                    lines.append("\(indent)subgraph \(bodyID)[\"body of \(name), once per pass\"]")
                    drawMermaid(body, ids: identifiers(for: body), prefix: bodyID + "_", indent: indent + "    ", into: &lines)
                    lines.append("\(indent)end")
                    lines.append("\(indent)\(id) -.->|\"each pass\"| \(bodyID)")
                case .reference(let child, let version):
                    lines.append("\(indent)\(id)_ref[/\"\(escape(child)) v\(escape(version))\"/]")
                    lines.append("\(indent)\(id) -.->|\"each pass\"| \(id)_ref")
                }
            case .subworkflow(let subworkflow):
                let child = "sub-workflow \(subworkflow.child.id) v\(subworkflow.child.version)"
                lines.append("\(indent)\(id)[[\"\(name)<br/><small>\(escape(child))</small>\"]]")
            case .batch(let batch):
                let worker: String
                if case .inline(let item) = batch.worker, item.nodes.count == 1 {
                    worker = item.nodes[0].uses
                } else {
                    worker = "\(batch.worker.id) v\(batch.worker.version)"
                }
                let detail = "batch: \(worker) per item of \(batch.items.source), \(batch.concurrency) at once"
                lines.append("\(indent)\(id)[[\"\(name)<br/><small>\(escape(detail))</small>\"]]")
            case .wait(let wait):
                var detail = wait.actions.isEmpty ? "wait for a signal" : "wait for " + wait.actions.joined(separator: " or ")
                if let timeout = wait.timeout { detail += ", \(wait.timeoutAction) after \(readable(timeout))" }
                lines.append("\(indent)\(id){{\"\(name)<br/><small>\(escape(detail))</small>\"}}")
            case .sleep(let sleep):
                lines.append("\(indent)\(id)([\"\(name)<br/><small>sleep \(readable(sleep.duration))</small>\"])")
            }
        }
        for edge in blueprint.edges {
            guard let source = ids[edge.source].map({ prefix + $0 }), let target = ids[edge.target].map({ prefix + $0 }) else {
                continue
            }
            if let label = label(for: edge) {
                lines.append("\(indent)\(source) -->|\"\(escape(label))\"| \(target)")
            } else {
                lines.append("\(indent)\(source) --> \(target)")
            }
        }
    }

    /// `72 h`, `90 s`, `250 ms`.
    private static func readable(_ duration: Duration) -> String {
        let seconds = duration.seconds
        func number(_ value: Double) -> String {
            value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
        }
        if seconds >= 3600 && (seconds / 3600).rounded() == seconds / 3600 { return "\(number(seconds / 3600)) h" }
        if seconds >= 60 && (seconds / 60).rounded() == seconds / 60 { return "\(number(seconds / 60)) min" }
        if seconds >= 1 { return "\(number(seconds)) s" }
        return "\(number(seconds * 1000)) ms"
    }

    /// The Graphviz DOT text for `blueprint`.
    public static func dot(_ blueprint: Blueprint, run: RunResult? = nil) -> String {
        var lines = ["digraph \"\(dotEscape(blueprint.id))\" {", "    rankdir=TB;", "    node [shape=box, style=\"rounded,filled\", fillcolor=white];"]
        var colours: [String: String] = [:]
        for record in run?.nodes ?? [] {
            switch record.status {
            case .completed: colours[record.nodeID] = "#d4f7d4"
            case .failed: colours[record.nodeID] = "#ffd6d6"
            case .skipped: colours[record.nodeID] = "#eeeeee"
            case .interrupted: colours[record.nodeID] = "#fff3cd"
            case .notRun: break
            }
        }
        for node in blueprint.nodes {
            var attributes = "label=\"\(dotEscape(node.id))\\n\(dotEscape(node.uses))\""
            if let colour = colours[node.id] { attributes += ", fillcolor=\"\(colour)\"" }
            lines.append("    \"\(dotEscape(node.id))\" [\(attributes)];")
        }
        for edge in blueprint.edges {
            let label = label(for: edge).map { " [label=\"\(dotEscape($0))\"]" } ?? ""
            lines.append("    \"\(dotEscape(edge.source))\" -> \"\(dotEscape(edge.target))\"\(label);")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func label(for edge: EdgeDefinition) -> String? {
        var parts: [String] = []
        if let action = edge.action { parts.append(action) }
        switch edge.condition {
        case .expression(let text): parts.append("when \(text)")
        case .predicate(let name): parts.append("when \(name)()")
        case nil: break
        }
        return parts.isEmpty ? nil : parts.joined(separator: ": ")
    }

    private static func style(for status: NodeRecord.Status) -> String? {
        switch status {
        case .completed: return "ran"
        case .failed: return "failed"
        case .skipped: return "skipped"
        case .interrupted: return "interrupted"
        case .notRun: return nil
        }
    }

    /// Mermaid ids must be simple: `n0`, `n1`, … in blueprint order.
    private static func identifiers(for blueprint: Blueprint) -> [String: String] {
        var ids: [String: String] = [:]
        for (index, node) in blueprint.nodes.enumerated() where ids[node.id] == nil { ids[node.id] = "n\(index)" }
        return ids
    }

    /// `text` as a Mermaid label: on one line (control characters written as `\u{…}`), with the
    /// characters Mermaid or the HTML it renders to would read as syntax written as entity
    /// codes, so that an id such as `<img src=x onerror=…>` renders as text and a newline cannot
    /// start a directive of its own.
    private static func escape(_ text: String) -> String {
        var result = ""
        for character in PrintableText.escaped(text) {
            switch character {
            case "\"": result += "#quot;"
            case "|": result += "#124;"
            case "<": result += "#60;"
            case ">": result += "#62;"
            case "&": result += "#38;"
            case "#": result += "#35;"
            default: result.append(character)
            }
        }
        return result
    }

    /// `text` as a Graphviz quoted string, on one line.
    private static func dotEscape(_ text: String) -> String {
        PrintableText.escaped(text).replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
