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
        for node in blueprint.nodes {
            lines.append("    \(ids[node.id]!)[\"\(escape(node.id))<br/><small>\(escape(node.uses))</small>\"]")
        }
        for edge in blueprint.edges {
            guard let source = ids[edge.source], let target = ids[edge.target] else { continue }
            if let label = label(for: edge) {
                lines.append("    \(source) -->|\"\(escape(label))\"| \(target)")
            } else {
                lines.append("    \(source) --> \(target)")
            }
        }
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

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "|", with: "#124;")
    }

    private static func dotEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
