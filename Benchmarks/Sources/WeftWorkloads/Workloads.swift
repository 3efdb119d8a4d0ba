import Weft

/// The workloads of the engine benchmarks: no-op nodes, no event subscribers.
public enum Workloads {
    /// One registry for every workload: a node that does nothing.
    public static let registry: NodeRegistry = {
        var registry = NodeRegistry()
        registry.register("noop") { _ in .null }
        return registry
    }()

    /// `count` nodes in a line.
    public static func chain(_ count: Int) -> Blueprint {
        let nodes = (0..<count).map { NodeDefinition(id: "n\($0)", uses: "noop") }
        let edges = (1..<count).map { EdgeDefinition(source: "n\($0 - 1)", target: "n\($0)") }
        return Blueprint(id: "chain-\(count)", nodes: nodes, edges: edges)
    }

    /// One node fanning out to `width` nodes that join (`all`) into one.
    public static func fanOut(_ width: Int) -> Blueprint {
        var nodes = [NodeDefinition(id: "split", uses: "noop")]
        var edges: [EdgeDefinition] = []
        nodes.reserveCapacity(width + 2)
        edges.reserveCapacity(width * 2)
        for index in 0..<width {
            nodes.append(NodeDefinition(id: "w\(index)", uses: "noop"))
            edges.append(EdgeDefinition(source: "split", target: "w\(index)"))
            edges.append(EdgeDefinition(source: "w\(index)", target: "join"))
        }
        nodes.append(NodeDefinition(id: "join", uses: "noop"))
        return Blueprint(id: "fan-\(width)", nodes: nodes, edges: edges)
    }
}
