/// The constructs a runtime performs itself rather than by running node code: loops,
/// sub-workflows, batches, waits for a signal and sleeps.
///
/// In a blueprint they are ordinary nodes whose `uses` is a reserved key (``ControlNode/Kind``)
/// and whose `params` say the rest, so a blueprint with loops is still plain JSON:
///
/// ```json
/// {"id": "poll", "uses": "weft.loop",
///  "params": {"while": "state.ready != true", "maxIterations": 20, "body": {"id": "poll-body", "nodes": [...]}}}
/// ```
///
/// Build them in Swift with ``Node/loop(_:while:maxIterations:body:)``, ``Node/subworkflow(_:blueprint:version:input:output:)``,
/// ``Node/batch(_:items:node:concurrency:onFailure:)``, ``Node/waitForSignal(_:actions:timeout:timeoutAction:)``,
/// ``Node/sleep(_:for:)`` and ``Node/breakLoop(_:)``.
enum ControlNode: Sendable {
    /// The reserved `uses` keys.
    enum Kind: String, Sendable, CaseIterable {
        case loop = "weft.loop"
        case subworkflow = "weft.subworkflow"
        case batch = "weft.batch"
        case wait = "weft.wait"
        case sleep = "weft.sleep"
        /// Ends the enclosing loop after the current pass; its output is the loop's.
        case breakLoop = "weft.break"
    }

    case loop(LoopControl)
    case subworkflow(SubworkflowControl)
    case batch(BatchControl)
    case wait(WaitControl)
    case sleep(SleepControl)

    /// Whether `uses` names a construct of the runtime.
    static func isReserved(_ uses: String) -> Bool { uses.hasPrefix("weft.") }

    /// The construct `node` declares, or `nil` for a node that runs code (and for `weft.break`,
    /// which runs as a pass-through node).
    ///
    /// - Throws: ``WeftError`` (``WeftError/Code/invalidBlueprint``) naming what is wrong with
    ///   the params.
    init?(_ node: NodeDefinition, parent blueprint: Blueprint) throws(WeftError) {
        guard let kind = Kind(rawValue: node.uses) else {
            guard !Self.isReserved(node.uses) else {
                throw WeftError(
                    .invalidBlueprint,
                    "Node \"\(node.id)\" uses \"\(node.uses)\": keys starting with \"weft.\" are reserved, and this is none of "
                        + Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return nil
        }
        let params = ControlParams(node: node)
        switch kind {
        case .loop: self = .loop(try LoopControl(params, parent: blueprint))
        case .subworkflow: self = .subworkflow(try SubworkflowControl(params))
        case .batch: self = .batch(try BatchControl(params, parent: blueprint))
        case .wait: self = .wait(try WaitControl(params))
        case .sleep: self = .sleep(try SleepControl(params))
        case .breakLoop: return nil
        }
    }

    /// The blueprints this construct starts child runs of.
    var children: [ChildBlueprint] {
        switch self {
        case .loop(let loop): return [loop.body]
        case .subworkflow(let subworkflow): return [subworkflow.child]
        case .batch(let batch): return [batch.worker]
        case .wait, .sleep: return []
        }
    }
}

/// The blueprint a construct starts child runs of: one written inside it, or one registered
/// elsewhere, named by id and version.
enum ChildBlueprint: Sendable, Hashable {
    case inline(Blueprint)
    case reference(id: String, version: String)

    var id: String {
        switch self {
        case .inline(let blueprint): return blueprint.id
        case .reference(let id, _): return id
        }
    }

    var version: String {
        switch self {
        case .inline(let blueprint): return blueprint.version
        case .reference(_, let version): return version
        }
    }

    /// The blueprint itself, from `registry` for a reference.
    func resolve(in registry: NodeRegistry) -> Blueprint? {
        switch self {
        case .inline(let blueprint): return blueprint
        case .reference(let id, let version): return registry.blueprint(id: id, version: version)
        }
    }
}

/// A loop: runs its body as a child run once per pass, while a condition holds.
///
/// Before each pass, `while` is evaluated with `state` (the loop's input before the first pass,
/// then each pass's output), `iteration` (the passes done so far), `input`, `params` and
/// `context`; a pass whose body ran a `weft.break` node ends the loop with that node's output.
/// A loop that would start pass `maxIterations + 1` fails its node.
struct LoopControl: Sendable {
    var body: ChildBlueprint
    var condition: Expression?
    var maxIterations: Int

    static let defaultMaxIterations = 1000

    init(_ params: ControlParams, parent: Blueprint?) throws(WeftError) {
        body = try params.child(body: "body", parent: parent)
        condition = try params.expression("while")
        maxIterations = try params.int("maxIterations") ?? Self.defaultMaxIterations
        guard maxIterations >= 1 else { throw params.invalid("maxIterations must be at least 1") }
    }
}

/// A sub-workflow: one child run of another blueprint, its input mapped from the node's and
/// its result mapped back.
struct SubworkflowControl: Sendable {
    var child: ChildBlueprint
    /// Maps the node's scope (`input`, `params`, `context`) to the child's input; `nil`: the input.
    var input: Expression?
    /// Maps the child's result (`output`) to the node's output; `nil`: the result.
    var output: Expression?

    init(_ params: ControlParams) throws(WeftError) {
        child = try params.child(body: nil, parent: nil)
        input = try params.expression("input")
        output = try params.expression("output")
    }
}

/// What a batch does when an item fails.
public enum BatchFailurePolicy: String, Sendable, Hashable, Codable {
    /// The first failed item fails the node (and cancels the items still running).
    case failFast
    /// Every item runs; the output is `{"results": [...], "errors": [...]}`, with `null` in
    /// `results` for each failed item and `{"index", "message", "code"}` in `errors`.
    case collect
}

/// A batch: one child run per element of an array, at most `concurrency` at once, gathered in
/// input order.
struct BatchControl: Sendable {
    var items: Expression
    /// What runs per item: a one-node blueprint around node code, or a sub-workflow.
    var worker: ChildBlueprint
    var concurrency: Int
    var onFailure: BatchFailurePolicy

    static let defaultConcurrency = 16

    init(_ params: ControlParams, parent: Blueprint?) throws(WeftError) {
        items = try params.expression("items") ?? Expression.input
        if let key = params.string("node") {
            var item = NodeDefinition(id: "item", uses: key)
            if let config = params.raw("config") {
                do { item.config = try config.decode(as: NodeConfiguration.self) } catch {
                    throw params.invalid("config is not a node configuration: \(error)")
                }
            }
            let parentID = parent?.id ?? "batch"
            worker = .inline(Blueprint(
                id: "\(parentID)/\(params.nodeID)", version: parent?.version ?? "1", nodes: [item]))
        } else {
            worker = try params.child(body: "body", parent: parent)
        }
        concurrency = try params.int("concurrency") ?? Self.defaultConcurrency
        guard concurrency >= 1 else { throw params.invalid("concurrency must be at least 1") }
        let policy = params.string("onFailure") ?? BatchFailurePolicy.failFast.rawValue
        guard let onFailure = BatchFailurePolicy(rawValue: policy) else {
            throw params.invalid("onFailure is \"\(policy)\"; it must be failFast or collect")
        }
        self.onFailure = onFailure
    }
}

/// A wait: the node pauses until a signal names one of its actions (or its timeout passes).
struct WaitControl: Sendable {
    /// The actions a signal may carry; empty: any.
    var actions: [String]
    var timeout: Duration?
    /// The action the node ends with when its timeout passes.
    var timeoutAction: String

    init(_ params: ControlParams) throws(WeftError) {
        actions = try params.strings("actions") ?? []
        timeout = try params.seconds("timeout")
        timeoutAction = params.string("timeoutAction") ?? "timeout"
        if let timeout, timeout <= .zero { throw params.invalid("timeout must be positive") }
    }
}

/// A sleep: the node ends, with its input as output, once its duration has passed.
struct SleepControl: Sendable {
    var duration: Duration

    init(_ params: ControlParams) throws(WeftError) {
        guard let duration = try params.seconds("seconds") else { throw params.invalid("it needs \"seconds\"") }
        guard duration >= .zero else { throw params.invalid("seconds must not be negative") }
        self.duration = duration
    }
}

extension Expression {
    /// `input`: the whole input.
    static let input = try! Expression("input")
}
