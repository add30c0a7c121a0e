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
/// history has nodes count, count-1, ..., 1, each pointing to the next.
func checkList(_ heap: PersistentHeap) throws -> (count: UInt64, problem: String?) {
    let root = try heap.root(ListRoot.self)
    guard let rootAddress = root.address else { return (0, nil) }
    let count = rootAddress.pointee.count
    var node = rootAddress.pointee.head
    var expected = count
    while let address = node.address {
        guard address.pointee.value == expected else {
            return (
                count, "node \(count - expected + 1) holds \(address.pointee.value), expected \(expected)"
            )
        }
        guard address.pointee.filler.0 == expected &* 31 else {
            return (count, "node \(expected) has damaged contents")
        }
        expected -= 1
        node = address.pointee.next
    }
    guard expected == 0 else { return (count, "the list ends after \(count - expected) of \(count) nodes") }
    return (count, nil)
}
