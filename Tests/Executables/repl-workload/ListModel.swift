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

/// Who wrote the list: the epochs its stamped nodes were admitted at.
struct WriterHistory {
    /// Distinct epochs stamped.
    var epochs = 0
    /// Epochs whose nodes name more than one writer: two primaries at once.
    var twoWriterEpochs = 0
    /// Nodes stamped with a lower epoch than a node pushed before them.
    var regressions = 0
    /// The first push of the newest epoch (0: no stamps).
    var lastEpochFirst: UInt64 = 0
}

/// Walks the list from the root: a pool holding a prefix of the workload's
/// history has nodes count, count-1, ..., 1, each pointing to the next, and
/// each node's every field is what its push wrote (`Node.expected`, with
/// the epoch and writer stamped when there are), so a torn or foreign
/// object shows, not only a wrong count. Also returns who wrote it.
func checkList(_ heap: PersistentHeap) throws -> (count: UInt64, problem: String?, history: WriterHistory) {
    var writers: [UInt64: Set<UInt64>] = [:]
    var history = WriterHistory()
    var newerEpoch = UInt64.max
    var newestEpoch: UInt64?
    func summed() -> WriterHistory {
        var summary = history
        summary.epochs = writers.count
        summary.twoWriterEpochs = writers.values.filter { $0.count > 1 }.count
        return summary
    }
    let root = try heap.root(ListRoot.self)
    guard let rootAddress = root.address else { return (0, nil, summed()) }
    let count = rootAddress.pointee.count
    var node = rootAddress.pointee.head
    var expected = count
    while let address = node.address {
        guard expected > 0 else { return (count, "the list holds more than its \(count) nodes", summed()) }
        let found = address.pointee
        guard found.value == expected else {
            return (
                count, "node \(count - expected + 1) holds \(found.value), expected \(expected)", summed()
            )
        }
        let want = Node.expected(expected).filler
        let (epoch, writer) = (found.filler.1, found.filler.2)
        guard
            found.filler.0 == want.0 && (epoch == 0) == (writer == 0) && found.filler.3 == want.3
                && found.filler.4 == want.4 && found.filler.5 == want.5
        else {
            return (count, "node \(expected) has damaged contents", summed())
        }
        if writer != 0 {
            writers[epoch, default: []].insert(writer)
            if epoch > newerEpoch { history.regressions += 1 }
            newerEpoch = epoch
            if newestEpoch == nil { newestEpoch = epoch }
            if epoch == newestEpoch { history.lastEpochFirst = expected }
        }
        expected -= 1
        node = found.next
    }
    guard expected == 0 else {
        return (count, "the list ends after \(count - expected) of \(count) nodes", summed())
    }
    return (count, nil, summed())
}

extension Node {
    /// The node the workload's push number `value` writes (its `next` aside).
    static func expected(_ value: UInt64, next: PersistentPointer<Node> = .null) -> Node {
        Node(value: value, next: next, filler: (value &* 31, 0, 0, 0, 0, value))
    }
}
