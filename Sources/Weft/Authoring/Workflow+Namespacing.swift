extension Workflow {
    /// This workflow with every code key (node `uses`, fallbacks, named predicates and
    /// transforms) prefixed by `namespace` and a dot, so that the registries of several
    /// workflows merge into one worker's registry without collisions. Node ids, and so results
    /// and records, are unchanged.
    public func namespaced(_ namespace: String) -> Workflow {
        func name(_ key: String) -> String { namespace + "." + key }
        var blueprint = self.blueprint
        for index in blueprint.nodes.indices {
            blueprint.nodes[index].uses = name(blueprint.nodes[index].uses)
            if let fallback = blueprint.nodes[index].config.fallback { blueprint.nodes[index].config.fallback = name(fallback) }
        }
        for index in blueprint.edges.indices {
            if case .predicate(let predicate) = blueprint.edges[index].condition {
                blueprint.edges[index].condition = .predicate(name(predicate))
            }
            if case .function(let function) = blueprint.edges[index].transform {
                blueprint.edges[index].transform = .function(name(function))
            }
        }
        var registry = NodeRegistry()
        for (key, node) in self.registry.nodes { registry.nodes[name(key)] = node }
        for (key, predicate) in self.registry.predicates { registry.predicates[name(key)] = predicate }
        for (key, transform) in self.registry.transforms { registry.transforms[name(key)] = transform }
        return Workflow(blueprint: blueprint, registry: registry)
    }
}
