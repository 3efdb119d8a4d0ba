import Weft

/// The order pipeline sample: validation, a conditional fraud review for large orders, then a
/// fan-out to inventory, payment and invoicing that joins again before shipping.
///
/// ```text
/// validate ──(total > 500)──> review ──┐
///     └────(total <= 500)──> approve ──┴─(any)─> reserve ┐
///                                               ├─> charge  ├─(all)─> ship
///                                               └─> invoice ┘
/// ```
public enum OrderPipeline {
    /// The workflow: its blueprint and its node code.
    public static let workflow = Workflow(
        "order-pipeline", version: "1", metadata: ["description": "Validate, review, fulfil and ship an order"]
    ) {
        Node("validate", uses: "orders.validate")
        Node("review", uses: "orders.fraud-review")
        Node("approve", uses: "orders.auto-approve")
        Node("reserve", uses: "inventory.reserve").join(.any)
        Node("charge", uses: "payments.charge").retry(maxAttempts: 3, backoff: .exponential(initial: .milliseconds(50)))
        Node("invoice", uses: "billing.invoice")
        Node("ship", uses: "shipping.ship")
        Edge("validate", to: "review", when: "output.total > 500")
        Edge("validate", to: "approve", when: "output.total <= 500")
        Edge("review", to: "reserve", action: "approved")
        Edge("approve", to: "reserve")
        Edge("reserve", to: "charge")
        Edge("reserve", to: "invoice")
        Edge("reserve", to: "ship")
        Edge("charge", to: "ship")
        Edge("invoice", to: "ship")
    }.merging(registry)

    /// An input that takes the auto-approval branch.
    public static let sampleInput: JSONValue = [
        "orderId": "A-1001", "customer": "ada@example.com",
        "lines": [["sku": "loom-shuttle", "quantity": 2, "price": 35.5], ["sku": "weft-yarn", "quantity": 10, "price": 4.2]],
    ]

    /// The node code of this sample.
    public static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        registry.register("orders.validate") { (order: SampleOrder, context: NodeContext) -> ValidatedOrder in
            guard !order.lines.isEmpty else { throw NodeError.permanent("order \(order.orderId) has no lines", code: "empty_order") }
            for line in order.lines where line.quantity <= 0 || line.price < 0 {
                throw NodeError.permanent("line \(line.sku) has quantity \(line.quantity) and price \(line.price)", code: "bad_line")
            }
            let total = order.lines.reduce(0) { $0 + Double($1.quantity) * $1.price }
            context.context.set("orderId", .string(order.orderId))
            return ValidatedOrder(orderId: order.orderId, customer: order.customer, lines: order.lines, total: (total * 100).rounded() / 100)
        }
        registry.register("orders.fraud-review") { context in
            let order = try context.input(as: ValidatedOrder.self)
            // A stand-in rule: trusted domains pass, others are held for a person.
            let trusted = order.customer.hasSuffix("@example.com")
            context.logger.info("fraud review", metadata: ["trusted": "\(trusted)"])
            return NodeOutput(try JSONValue(encoding: order), action: trusted ? "approved" : "held")
        }
        registry.register("orders.auto-approve") { context in context.input }
        registry.register("inventory.reserve") { (order: ValidatedOrder, _: NodeContext) -> [String: Int] in
            Dictionary(order.lines.map { ($0.sku, $0.quantity) }, uniquingKeysWith: +)
        }
        registry.register("payments.charge") { context in
            let reservation = context.input
            let order = try context.context.value(forKey: "orderId")?.decode(as: String.self) ?? "?"
            return ["orderId": .string(order), "items": JSONValue(reservation.objectValue?.count ?? 0), "status": "captured"]
        }
        registry.register("billing.invoice") { context in
            ["invoice": .string("INV-" + (context.context.value(forKey: "orderId")?.stringValue ?? "?")), "lines": JSONValue(context.input.objectValue?.count ?? 0)]
        }
        registry.register("shipping.ship") { context in
            let charge = context.input["charge"]
            let invoice = context.input["invoice"]
            guard charge?["status"] == "captured" else { throw NodeError.permanent("payment not captured") }
            return ["shipped": true, "invoice": invoice?["invoice"] ?? .null, "parcels": JSONValue(context.input["reserve"]?.objectValue?.count ?? 0)]
        }
        return registry
    }()
}

/// An order as the sample receives it.
public struct SampleOrder: Codable, Sendable {
    /// One line of an order.
    public struct Line: Codable, Sendable {
        public var sku: String
        public var quantity: Int
        public var price: Double
    }

    public var orderId: String
    public var customer: String
    public var lines: [Line]
}

/// An order after validation, with its total.
public struct ValidatedOrder: Codable, Sendable {
    public var orderId: String
    public var customer: String
    public var lines: [SampleOrder.Line]
    public var total: Double
}
