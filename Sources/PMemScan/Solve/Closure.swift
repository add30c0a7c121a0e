/// What each node of a directed graph reaches, as the union of the labels of
/// every node reachable from it (itself included).
///
/// Tarjan's algorithm finds strongly connected components successors-first, so
/// each component's set is complete when it is built: every node is visited once
/// and every set union happens once per edge between components.
struct Closure {
    /// The reached labels of each visited node's component.
    private var reached: [Int: Set<Int>] = [:]
    private var component: [Int] = []

    /// Computes the closure from `starts` over `successors`, gathering `labels`.
    init(nodeCount: Int, starts: [Int], successors: (Int) -> [Int], labels: (Int) -> [Int]) {
        component = Array(repeating: -1, count: nodeCount)
        var index = Array(repeating: -1, count: nodeCount)
        var lowLink = Array(repeating: 0, count: nodeCount)
        var onStack = Array(repeating: false, count: nodeCount)
        var stack: [Int] = []
        var counter = 0
        var componentCount = 0
        for start in starts where index[start] < 0 {
            // Iterative depth-first search: (node, its successors, next successor to visit).
            var frames: [(node: Int, next: [Int], position: Int)] = []
            func open(_ node: Int) {
                index[node] = counter
                lowLink[node] = counter
                counter += 1
                stack.append(node)
                onStack[node] = true
                frames.append((node, successors(node), 0))
            }
            open(start)
            while let frame = frames.last {
                if frame.position < frame.next.count {
                    frames[frames.count - 1].position += 1
                    let successor = frame.next[frame.position]
                    if index[successor] < 0 {
                        open(successor)
                    } else if onStack[successor] {
                        lowLink[frame.node] = min(lowLink[frame.node], index[successor])
                    }
                    continue
                }
                frames.removeLast()
                if let parent = frames.last {
                    lowLink[parent.node] = min(lowLink[parent.node], lowLink[frame.node])
                }
                guard lowLink[frame.node] == index[frame.node] else { continue }
                // frame.node roots a component: pop it and build its set.
                var members: [Int] = []
                while let top = stack.popLast() {
                    onStack[top] = false
                    component[top] = componentCount
                    members.append(top)
                    if top == frame.node { break }
                }
                var set = Set<Int>()
                for member in members {
                    set.formUnion(labels(member))
                    for successor in successors(member) where component[successor] != componentCount {
                        set.formUnion(reached[component[successor]] ?? [])
                    }
                }
                reached[componentCount] = set
                componentCount += 1
            }
        }
    }

    /// The labels reached from a node that was among (or reachable from) the starts.
    func labels(reachedFrom node: Int) -> Set<Int> {
        guard node < component.count, component[node] >= 0 else { return [] }
        return reached[component[node]] ?? []
    }
}
