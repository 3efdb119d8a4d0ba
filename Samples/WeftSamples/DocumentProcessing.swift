import Weft

/// The document-processing sample: a flaky fetch with retries, text extraction with a timeout
/// and a fallback to a basic extractor, classification that routes by action, and a summary.
///
/// ```text
/// fetch ─> extract ─> classify ─(invoice)─> invoice-fields ─┐
///                        ├──────(contract)─> contract-terms ─┼─(any)─> summarise
///                        └──────(default)──> tag-other ──────┘
/// ```
public enum DocumentProcessing {
    /// The workflow: its blueprint and its node code.
    public static let workflow = Workflow(
        "document-processing", version: "1", metadata: ["description": "Fetch, extract, classify and summarise a document"]
    ) {
        Node("fetch", uses: "documents.fetch")
            .retry(maxAttempts: 4, backoff: .exponential(initial: .milliseconds(20), multiplier: 2, maximum: .seconds(1)))
        Node("extract", uses: "documents.extract-layout")
            .timeout(.seconds(2))
            .fallback(uses: "documents.extract-plain")
        Node("classify", uses: "documents.classify")
        Node("invoice-fields", uses: "documents.invoice-fields")
        Node("contract-terms", uses: "documents.contract-terms")
        Node("tag-other", uses: "documents.tag-other")
        Node("summarise", uses: "documents.summarise").join(.any)
        Chain("fetch", "extract", "classify")
        Edge("classify", to: "invoice-fields", action: "invoice")
        Edge("classify", to: "contract-terms", action: "contract")
        Edge("classify", to: "tag-other")
        Edge("invoice-fields", to: "summarise")
        Edge("contract-terms", to: "summarise")
        Edge("tag-other", to: "summarise")
    }.merging(registry)

    /// An input that fetches an invoice whose first two fetch attempts fail.
    public static let sampleInput: JSONValue = [
        "name": "invoice-2026-11.txt", "flakyAttempts": 2, "layoutBroken": true,
        "text": "INVOICE 2026-11\nBill to: Ada Lovelace\nLoom maintenance 3 h\nTotal due: 420.00 EUR\nPayable within 30 days",
    ]

    /// The node code of this sample.
    public static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        registry.register("documents.fetch") { context in
            // Stands in for a flaky store: the first `flakyAttempts` attempts fail.
            let flaky = context.input["flakyAttempts"]?.intValue ?? 0
            if context.attempt <= flaky {
                throw NodeError.transient("storage timed out fetching \(context.input["name"]?.stringValue ?? "?")")
            }
            return context.input
        }
        registry.register("documents.extract-layout") { context in
            if context.input["layoutBroken"]?.boolValue == true {
                throw NodeError.permanent("layout model cannot read this file", code: "layout_unreadable")
            }
            return extract(context.input, method: "layout")
        }
        registry.register("documents.extract-plain") { context in
            context.logger.warning("falling back to plain extraction", metadata: ["cause": "\(context.failure?.message ?? "?")"])
            return extract(context.input, method: "plain")
        }
        registry.register("documents.classify") { context in
            let text = (context.input["text"]?.stringValue ?? "").lowercased()
            let kind = text.contains("invoice") ? "invoice" : (text.contains("agreement") || text.contains("contract")) ? "contract" : "other"
            return NodeOutput(context.input, action: kind)
        }
        registry.register("documents.invoice-fields") { context in
            let lines = context.input["lines"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let total = lines.first { $0.lowercased().hasPrefix("total") }.map { String($0.split(separator: ":").last ?? "").trimmingCharacters() }
            return ["kind": "invoice", "total": total.map { .string($0) } ?? .null, "lines": JSONValue(lines.count)]
        }
        registry.register("documents.contract-terms") { context in
            let lines = context.input["lines"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return ["kind": "contract", "clauses": JSONValue(lines.filter { $0.first?.isNumber == true }.count)]
        }
        registry.register("documents.tag-other") { context in
            ["kind": "other", "words": context.input["words"] ?? 0]
        }
        registry.register("documents.summarise") { context in
            var summary = context.input.objectValue ?? [:]
            summary["summary"] = .string("\(summary["kind"]?.stringValue ?? "document") processed")
            return .object(summary)
        }
        return registry
    }()

    private static func extract(_ document: JSONValue, method: String) -> JSONValue {
        let text = document["text"]?.stringValue ?? ""
        let lines = text.split(separator: "\n").map { JSONValue(String($0)) }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).count
        return ["text": .string(text), "lines": .array(lines), "words": JSONValue(words), "method": .string(method)]
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
