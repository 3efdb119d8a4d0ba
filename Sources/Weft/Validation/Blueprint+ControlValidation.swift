extension Blueprint {
    /// The issues of one control node: its params, the blueprints it names, its loop body.
    func validateControl(
        _ node: NodeDefinition, registry: NodeRegistry?, isLoopBody: Bool, visiting: Set<BlueprintKey>
    ) -> [ValidationIssue] {
        guard ControlNode.isReserved(node.uses) else { return [] }
        if node.uses == ControlNode.Kind.breakLoop.rawValue {
            return isLoopBody
                ? []
                : [ValidationIssue(
                    .breakOutsideLoop, "Node \"\(node.id)\" breaks a loop, but it is not in a loop's body", nodeID: node.id)]
        }
        let control: ControlNode
        do {
            guard let parsed = try ControlNode(node, parent: self) else { return [] }
            control = parsed
        } catch {
            return [ValidationIssue(.invalidControl, error.message, nodeID: node.id)]
        }
        var issues: [ValidationIssue] = []
        if case .batch(let batch) = control, case .inline(let worker) = batch.worker, worker.nodes.count == 1,
            let key = worker.nodes.first?.uses, let registry, !registry.contains(key)
        {
            issues.append(ValidationIssue(
                .missingImplementation, "Batch \"\(node.id)\" runs \"\(key)\" per item, which is not registered",
                nodeID: node.id))
            return issues
        }
        for child in control.children {
            switch child {
            case .inline(let body):
                let isLoop: Bool
                if case .loop = control { isLoop = true } else { isLoop = false }
                let report = body.validate(against: registry, isLoopBody: isLoop, visiting: visiting)
                for issue in report.issues {
                    var nested = issue
                    nested.message = "In the body of \"\(node.id)\": \(issue.message)"
                    nested.nodeID = node.id
                    issues.append(nested)
                }
            case .reference(let id, let version):
                guard let registry else { continue }
                let key = BlueprintKey(id: id, version: version)
                guard let child = registry.blueprint(id: id, version: version) else {
                    issues.append(ValidationIssue(
                        .unknownBlueprint,
                        "Node \"\(node.id)\" starts blueprint \"\(id)\" v\(version), which is not registered", nodeID: node.id))
                    continue
                }
                if visiting.contains(key) {
                    issues.append(ValidationIssue(
                        .recursiveBlueprint,
                        "Node \"\(node.id)\" starts blueprint \"\(id)\" v\(version), which is already starting it", nodeID: node.id))
                    continue
                }
                // The named blueprint's own problems are reported when it is registered and
                // run; here only what would make this one loop forever.
                let report = child.validate(against: registry, isLoopBody: false, visiting: visiting.union([key]))
                for issue in report.issues where issue.code == .recursiveBlueprint {
                    var nested = issue
                    nested.message = "Through \"\(node.id)\": \(issue.message)"
                    nested.nodeID = node.id
                    issues.append(nested)
                }
            }
        }
        return issues
    }

    /// Waits whose declared actions (and timeout action) no outgoing edge carries, on a node
    /// without default edges.
    func validateWaitEdges() -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        for node in nodes where node.uses == ControlNode.Kind.wait.rawValue {
            guard let control = try? ControlNode(node, parent: self), case .wait(let wait) = control else { continue }
            let outgoing = edges.filter { $0.source == node.id }
            guard !outgoing.isEmpty, !outgoing.contains(where: { $0.action == nil }) else { continue }
            let labels = Set(outgoing.compactMap(\.action))
            var declared = wait.actions
            if wait.timeout != nil { declared.append(wait.timeoutAction) }
            for action in declared where !labels.contains(action) {
                issues.append(ValidationIssue(
                    .missingActionEdge,
                    "Wait \"\(node.id)\" declares action \"\(action)\", but no edge from it carries that action and it has no default edge",
                    nodeID: node.id))
            }
        }
        return issues
    }
}
