/// A graph's edges by node, in two flat arrays (compressed sparse rows): one allocation each,
/// whatever the graph's size. `outgoing(n)` and `incoming(n)` list edge indices in edge order.
struct Adjacency: Sendable {
    private let outFlat: [Int]
    private let outStart: [Int]
    private let inFlat: [Int]
    private let inStart: [Int]

    /// Builds the adjacency of `nodeCount` nodes from edges given as (source, target) indices.
    init(nodeCount: Int, edges: some Collection<(source: Int, target: Int)>) {
        var outStart = Array(repeating: 0, count: nodeCount + 1)
        var inStart = Array(repeating: 0, count: nodeCount + 1)
        for edge in edges {
            outStart[edge.source + 1] += 1
            inStart[edge.target + 1] += 1
        }
        for node in 0..<nodeCount {
            outStart[node + 1] += outStart[node]
            inStart[node + 1] += inStart[node]
        }
        var outFlat = Array(repeating: 0, count: edges.count)
        var inFlat = Array(repeating: 0, count: edges.count)
        var outFill = outStart
        var inFill = inStart
        for (position, edge) in edges.enumerated() {
            outFlat[outFill[edge.source]] = position
            outFill[edge.source] += 1
            inFlat[inFill[edge.target]] = position
            inFill[edge.target] += 1
        }
        self.outFlat = outFlat
        self.outStart = outStart
        self.inFlat = inFlat
        self.inStart = inStart
    }

    /// The edges leaving `node`.
    func outgoing(_ node: Int) -> ArraySlice<Int> { outFlat[outStart[node]..<outStart[node + 1]] }

    /// The edges entering `node`.
    func incoming(_ node: Int) -> ArraySlice<Int> { inFlat[inStart[node]..<inStart[node + 1]] }
}
