import PMemHeap

/// One list node; each transaction of the workload pushes one.
struct Node: PersistentType {
    var value: UInt64
    var next: PersistentPointer<Node>
    var filler: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    static var persistentName: String { "repl-workload.Node" }
    static var persistentPointers: [PartialKeyPath<Node>] { [\Node.next] }
}

/// The root: how many nodes were pushed, and the newest.
struct ListRoot: PersistentType {
    var count: UInt64
    var head: PersistentPointer<Node>

    static var persistentName: String { "repl-workload.ListRoot" }
    static var persistentPointers: [PartialKeyPath<ListRoot>] { [\ListRoot.head] }
}

/// Walks the list from the root: a pool holding a prefix of the workload's
/// history has nodes count, count-1, ..., 1, each pointing to the next, and
/// each node's every field is what its push wrote (`Node.expected`), so a
/// torn or foreign object shows, not only a wrong count.
func checkList(_ heap: PersistentHeap) throws -> (count: UInt64, problem: String?) {
    let root = try heap.root(ListRoot.self)
    guard let rootAddress = root.address else { return (0, nil) }
    let count = rootAddress.pointee.count
    var node = rootAddress.pointee.head
    var expected = count
    while let address = node.address {
        guard expected > 0 else { return (count, "the list holds more than its \(count) nodes") }
        let found = address.pointee
        guard found.value == expected else {
            return (count, "node \(count - expected + 1) holds \(found.value), expected \(expected)")
        }
        let want = Node.expected(expected).filler
        guard
            found.filler.0 == want.0 && found.filler.1 == want.1 && found.filler.2 == want.2
                && found.filler.3 == want.3 && found.filler.4 == want.4 && found.filler.5 == want.5
        else {
            return (count, "node \(expected) has damaged contents")
        }
        expected -= 1
        node = found.next
    }
    guard expected == 0 else { return (count, "the list ends after \(count - expected) of \(count) nodes") }
    return (count, nil)
}

extension Node {
    /// The node the workload's push number `value` writes (its `next` aside).
    static func expected(_ value: UInt64, next: PersistentPointer<Node> = .null) -> Node {
        Node(value: value, next: next, filler: (value &* 31, 0, 0, 0, 0, value))
    }
}
