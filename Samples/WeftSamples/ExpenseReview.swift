import Weft

/// The expense review sample: a batch checks each receipt, a person approves or rejects the
/// claim (a wait for a signal, escalated after three days), and an approved claim is paid by a
/// sub-workflow whose loop polls the transfer until it settles.
///
/// ```text
/// receive ─> check-receipts (batch) ─> total ─> approval (wait) ─approve─> pay (sub-workflow "payout")
///                                                   ├─reject──> notify-rejected
///                                                   └─escalate─> escalate
/// payout: transfer ─> settle (loop while not settled: poll)
/// ```
public enum ExpenseReview {
    /// The payout sub-workflow: start a transfer, then poll it until it settles.
    public static let payout = Workflow("payout", version: "1") {
        Node("transfer", uses: "payout.transfer")
        Node.loop("settle", while: "state.settled != true", maxIterations: 10) {
            Node("poll", uses: "payout.poll")
        }
        Edge("transfer", to: "settle")
    }

    /// The workflow: its blueprint, its node code and the payout sub-workflow.
    public static let workflow = Workflow(
        "expense-review", version: "1", metadata: ["description": "Check receipts, wait for an approval, pay out"]
    ) {
        Node("receive", uses: "expenses.receive")
        Node.batch("check-receipts", items: "input.receipts", node: "expenses.check-receipt", concurrency: 4)
        Node("total", uses: "expenses.total")
            .inputs(.map(["receipts": .node("check-receipts"), "employee": "nodes.receive.employee"]))
        Node.waitForSignal("approval", actions: ["approve", "reject"], timeout: .seconds(72 * 3600), timeoutAction: "escalate")
        Node.subworkflow("pay", payout)
            .inputs(.map(["employee": "nodes.total.employee", "amount": "nodes.total.total", "approver": "nodes.approval.approver"]))
        Node("notify-rejected", uses: "expenses.notify")
        Node("escalate", uses: "expenses.escalate")
        Chain("receive", "check-receipts", "total", "approval")
        Edge("approval", to: "pay", action: "approve")
        Edge("approval", to: "notify-rejected", action: "reject")
        Edge("approval", to: "escalate", action: "escalate")
    }.merging(registry)

    /// A claim with three receipts.
    public static let sampleInput: JSONValue = [
        "employee": "grace@example.com",
        "receipts": [
            ["vendor": "rail", "amount": 84.5], ["vendor": "hotel", "amount": 212], ["vendor": "taxi", "amount": 31.25],
        ],
    ]

    /// What the sample runner answers when the run waits: the approver approves.
    public static let approval = SampleCatalog.Signal(node: "approval", action: "approve", payload: ["approver": "ada@example.com"])

    /// The node code of this sample.
    public static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        registry.register("expenses.receive") { context in
            guard context.input["employee"]?.stringValue != nil, case .array(let receipts)? = context.input["receipts"],
                !receipts.isEmpty
            else { throw NodeError.permanent("a claim needs an employee and receipts", code: "bad_claim") }
            return context.input
        }
        registry.register("expenses.check-receipt") { context in
            let amount = context.input["amount"]?.doubleValue ?? 0
            guard amount > 0 else { throw NodeError.permanent("a receipt of \(amount)", code: "bad_receipt") }
            return ["vendor": context.input["vendor"] ?? .null, "amount": .double(amount), "flagged": .bool(amount > 200)]
        }
        registry.register("expenses.total") { context in
            let receipts = context.input["receipts"]?.arrayValue ?? []
            let total = receipts.reduce(0) { $0 + ($1["amount"]?.doubleValue ?? 0) }
            let flagged = receipts.filter { $0["flagged"] == true }.count
            return ["employee": context.input["employee"] ?? .null, "total": .double(total), "flagged": .int(Int64(flagged))]
        }
        registry.register("expenses.notify") { context in ["rejected": true, "by": context.input["approver"] ?? .null] }
        registry.register("expenses.escalate") { _ in ["escalated": true] }
        registry.register("payout.transfer") { context -> JSONValue in
            let employee = context.input["employee"]?.stringValue ?? "?"
            return ["transfer": .string("T-\(employee)"), "amount": context.input["amount"] ?? 0, "polls": 0]
        }
        registry.register("payout.poll") { context in
            // A stand-in bank: a transfer settles on its third poll.
            var state = context.input.objectValue ?? [:]
            let polls = (state["polls"]?.intValue ?? 0) + 1
            state["polls"] = .int(Int64(polls))
            state["settled"] = .bool(polls >= 3)
            return .object(state)
        }
        registry.register(payout)
        return registry
    }()
}
