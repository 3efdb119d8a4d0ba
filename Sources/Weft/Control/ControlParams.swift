/// Reads a control node's params, with errors that name the node and the param.
struct ControlParams {
    let nodeID: String
    let uses: String
    let members: [String: JSONValue]

    init(node: NodeDefinition) {
        nodeID = node.id
        uses = node.uses
        if case .object(let members) = node.params { self.members = members } else { self.members = [:] }
    }

    func invalid(_ detail: String) -> WeftError {
        WeftError(.invalidBlueprint, "Node \"\(nodeID)\" (\(uses)): \(detail)")
    }

    func raw(_ name: String) -> JSONValue? {
        guard let value = members[name], !value.isNull else { return nil }
        return value
    }

    func string(_ name: String) -> String? { raw(name)?.stringValue }

    func int(_ name: String) throws(WeftError) -> Int? {
        guard let value = raw(name) else { return nil }
        switch value {
        case .int(let number): return Int(exactly: number) ?? Int.max
        case .double(let number) where number.rounded() == number && abs(number) < 1e15: return Int(number)
        default: throw invalid("\(name) must be a whole number")
        }
    }

    func seconds(_ name: String) throws(WeftError) -> Duration? {
        guard let value = raw(name) else { return nil }
        // At most about 285 years: in nanoseconds, that still fits in an Int64.
        guard let seconds = value.doubleValue, seconds.isFinite, abs(seconds) < 9e9 else {
            throw invalid("\(name) must be a number of seconds, less than 9e9")
        }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    func strings(_ name: String) throws(WeftError) -> [String]? {
        guard let value = raw(name) else { return nil }
        guard case .array(let elements) = value else { throw invalid("\(name) must be an array of strings") }
        var strings: [String] = []
        for element in elements {
            guard let string = element.stringValue else { throw invalid("\(name) must be an array of strings") }
            strings.append(string)
        }
        return strings
    }

    func expression(_ name: String) throws(WeftError) -> Expression? {
        guard let text = raw(name) else { return nil }
        guard let source = text.stringValue else { throw invalid("\(name) must be an expression, as a string") }
        do { return try Expression(source) } catch let error as WeftError {
            throw invalid("\(name): \(error.message)")
        } catch {
            throw invalid("\(name): \(error)")
        }
    }

    /// The child blueprint: inline under `body` (when `body` is given), or `blueprint` and
    /// `version` naming a registered one.
    func child(body: String?, parent: Blueprint?) throws(WeftError) -> ChildBlueprint {
        if let body, let value = raw(body) {
            do {
                var blueprint = try value.decode(as: Blueprint.self)
                if let parent {
                    // An inline body is known by its place: the parent's id and the node's.
                    blueprint.id = "\(parent.id)/\(nodeID)"
                    blueprint.version = parent.version
                }
                return .inline(blueprint)
            } catch {
                throw invalid("\(body) is not a blueprint: \(error)")
            }
        }
        guard let id = string("blueprint"), !id.isEmpty else {
            throw invalid(body.map { "it needs \"\($0)\" (a blueprint) or \"blueprint\" (a registered blueprint's id)" }
                ?? "it needs \"blueprint\" (a registered blueprint's id)")
        }
        return .reference(id: id, version: string("version") ?? "1")
    }
}
