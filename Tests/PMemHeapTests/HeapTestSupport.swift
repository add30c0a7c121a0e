import Foundation
import PMemHeap
import XCTest

/// A list node with one pointer.
struct Node: PersistentType, Equatable {
    var value: Int64
    var next: PersistentPointer<Node>
    static var persistentName: String { "test.Node" }
    static var persistentPointers: [PartialKeyPath<Node>] { [\.next] }
}

/// A tree node with two pointers and padding between them.
struct TreeNode: PersistentType {
    var key: Int64
    var left: PersistentPointer<TreeNode>
    var flags: UInt32
    var right: PersistentPointer<TreeNode>
    static var persistentName: String { "test.TreeNode" }
    static var persistentPointers: [PartialKeyPath<TreeNode>] { [\.left, \.right] }
}

/// A root holding a list head and counters.
struct ListRoot: PersistentType {
    var head: PersistentPointer<Node>
    var count: Int64
    var sum: Int64
    static var persistentName: String { "test.ListRoot" }
    static var persistentPointers: [PartialKeyPath<ListRoot>] { [\.head] }
}

/// A scratch directory removed after the test.
func scratchDirectory(_ test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pmemheap-\(UUID().uuidString)")
        .path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

/// Builds a list of `values` under a new root in one transaction.
@discardableResult
func buildList(_ heap: PersistentHeap, _ values: [Int64]) throws -> PersistentPointer<ListRoot> {
    let nodes = try heap.register(Node.self)
    let roots = try heap.register(ListRoot.self)
    return try heap.transaction { tx in
        var head = PersistentPointer<Node>.null
        for value in values.reversed() {
            head = try tx.allocate(nodes, Node(value: value, next: head))
        }
        let root = try tx.allocate(
            roots, ListRoot(head: head, count: Int64(values.count), sum: values.reduce(0, +)))
        try tx.setRoot(root)
        return root
    }
}

/// The values of the list under the root.
func listValues(_ heap: PersistentHeap) throws -> [Int64] {
    try heap.register(Node.self)
    let root = try heap.root(ListRoot.self)
    guard !root.isNull else { return [] }
    var out: [Int64] = []
    var node = root.pointee.head
    while !node.isNull {
        out.append(node.pointee.value)
        node = node.pointee.next
    }
    return out
}

/// The bytes of a file, to show a failed open wrote nothing.
func fileBytes(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
}
