extension Workflow {
    /// This workflow with every code key (node `uses`, fallbacks, named predicates and
    /// transforms) prefixed by `namespace` and a dot, so that the registries of several
    /// workflows merge into one worker's registry without collisions. Node ids, and so results
    /// and records, are unchanged.
    ///
    /// The runtime's own constructs (`weft.` keys) keep their keys; what they name is prefixed
    /// too: the code a batch runs per item, and the code of loop bodies and of the blueprints
    /// registered for sub-workflows.
    public func namespaced(_ namespace: String) -> Workflow {
        let name: (String) -> String = { namespace + "." + $0 }
        var registry = self.registry.renamingKeys(name)
        for child in self.registry.registeredBlueprints { registry.register(Self.namespaced(child, name)) }
        return Workflow(blueprint: Self.namespaced(blueprint, name), registry: registry)
    }

    private static func namespaced(_ original: Blueprint, _ name: (String) -> String) -> Blueprint {
        var blueprint = original
        for index in blueprint.nodes.indices {
            let node = blueprint.nodes[index]
            if ControlNode.isReserved(node.uses) {
                guard case .object(var params) = node.params else { continue }
                if let key = params["node"]?.stringValue { params["node"] = .string(name(key)) }
                if let body = params["body"], let decoded = try? body.decode(as: Blueprint.self),
                    let encoded = try? JSONValue(encoding: namespaced(decoded, name))
                {
                    params["body"] = encoded
                }
                blueprint.nodes[index].params = .object(params)
            } else {
                blueprint.nodes[index].uses = name(node.uses)
            }
            if let fallback = node.config.fallback { blueprint.nodes[index].config.fallback = name(fallback) }
        }
        for index in blueprint.edges.indices {
            if case .predicate(let predicate) = blueprint.edges[index].condition {
                blueprint.edges[index].condition = .predicate(name(predicate))
            }
            if case .function(let function) = blueprint.edges[index].transform {
                blueprint.edges[index].transform = .function(name(function))
            }
        }
        return blueprint
    }
}
