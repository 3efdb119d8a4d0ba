/// A run event as JSON, for the messages that carry a fleet run's events to the client that
/// started it (``DistributedRuntime/events()``).
extension RunEvent.Kind {
    /// The event as a JSON object: its name under `"event"`, its fields beside it.
    var wireValue: JSONValue {
        func node(_ name: String, _ id: String, _ more: [String: JSONValue] = [:]) -> JSONValue {
            .object(more.merging(["event": .string(name), "node": .string(id)]) { $1 })
        }
        switch self {
        case .runStarted(let blueprintID, let version):
            return ["event": "runStarted", "blueprint": .string(blueprintID), "version": .string(version)]
        case .nodeStarted(let id, let attempt):
            return node("nodeStarted", id, ["attempt": .int(Int64(attempt))])
        case .nodeFinished(let id, let attempt, let duration, let usedFallback):
            return node(
                "nodeFinished", id,
                ["attempt": .int(Int64(attempt)), "nanoseconds": .int(duration.nanoseconds), "fallback": .bool(usedFallback)])
        case .nodeFailed(let id, let attempt, let failure, let willRetry):
            return node(
                "nodeFailed", id,
                ["attempt": .int(Int64(attempt)), "failure": (try? JSONValue(encoding: failure)) ?? .null, "retry": .bool(willRetry)])
        case .nodeRetrying(let id, let attempt, let delay):
            return node("nodeRetrying", id, ["attempt": .int(Int64(attempt)), "nanoseconds": .int(delay.nanoseconds)])
        case .nodeWaiting(let id):
            return node("nodeWaiting", id)
        case .nodeSkipped(let id):
            return node("nodeSkipped", id)
        case .edgeTaken(let source, let target):
            return ["event": "edgeTaken", "source": .string(source), "target": .string(target)]
        case .edgeSkipped(let source, let target):
            return ["event": "edgeSkipped", "source": .string(source), "target": .string(target)]
        case .runFinished(let status):
            return ["event": "runFinished", "status": .string(status.rawValue)]
        }
    }

    /// The event `value` describes.
    ///
    /// - Throws: ``WeftError`` with code ``WeftError/Code/malformedMessage`` naming what is wrong.
    init(wire value: JSONValue) throws(WeftError) {
        func string(_ key: String) throws(WeftError) -> String {
            guard let text = value[key]?.stringValue else { throw Self.malformed("no string \"\(key)\"") }
            return text
        }
        func integer(_ key: String) throws(WeftError) -> Int {
            guard let number = value[key]?.intValue else { throw Self.malformed("no integer \"\(key)\"") }
            return number
        }
        func flag(_ key: String) throws(WeftError) -> Bool {
            guard case .bool(let flag)? = value[key] else { throw Self.malformed("no boolean \"\(key)\"") }
            return flag
        }
        switch try string("event") {
        case "runStarted": self = .runStarted(blueprintID: try string("blueprint"), version: try string("version"))
        case "nodeStarted": self = .nodeStarted(nodeID: try string("node"), attempt: try integer("attempt"))
        case "nodeFinished":
            self = .nodeFinished(
                nodeID: try string("node"), attempt: try integer("attempt"), duration: .nanoseconds(try integer("nanoseconds")),
                usedFallback: try flag("fallback"))
        case "nodeFailed":
            guard let failure = try? value["failure"]?.decode(as: NodeFailure.self) else { throw Self.malformed("no failure") }
            self = .nodeFailed(nodeID: try string("node"), attempt: try integer("attempt"), failure: failure, willRetry: try flag("retry"))
        case "nodeRetrying":
            self = .nodeRetrying(nodeID: try string("node"), attempt: try integer("attempt"), delay: .nanoseconds(try integer("nanoseconds")))
        case "nodeWaiting": self = .nodeWaiting(nodeID: try string("node"))
        case "nodeSkipped": self = .nodeSkipped(nodeID: try string("node"))
        case "edgeTaken": self = .edgeTaken(source: try string("source"), target: try string("target"))
        case "edgeSkipped": self = .edgeSkipped(source: try string("source"), target: try string("target"))
        case "runFinished":
            guard let status = RunStatus(rawValue: try string("status")) else { throw Self.malformed("unknown status") }
            self = .runFinished(status: status)
        case let other:
            throw Self.malformed("unknown event \"\(other.prefix(40))\"")
        }
    }

    private static func malformed(_ what: String) -> WeftError {
        WeftError(.malformedMessage, "Malformed run event: \(what)")
    }
}
