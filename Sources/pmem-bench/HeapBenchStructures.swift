import CPmemobj
import Foundation
import PMemHeap

/// A list node in our heap: a native pointer and a value (16 bytes).
struct ListNode: PersistentType {
    var next: PersistentPointer<ListNode>
    var value: Int64
    static var persistentName: String { "bench.ListNode" }
    static var persistentPointers: [PartialKeyPath<ListNode>] { [\.next] }
}

/// A binary tree node in our heap (24 bytes).
struct TreeNode: PersistentType {
    var key: Int64
    var left: PersistentPointer<TreeNode>
    var right: PersistentPointer<TreeNode>
    static var persistentName: String { "bench.TreeNode" }
    static var persistentPointers: [PartialKeyPath<TreeNode>] { [\.left, \.right] }
}

/// A tree node, of any size, the trace cases build trees of.
/// (The key paths are the conformers' stored properties: a key path through a
/// protocol requirement has no field offset.)
protocol BenchTreeNode: PersistentType {
    var key: Int64 { get }
    static var leftField: WritableKeyPath<Self, PersistentPointer<Self>> { get }
    static var rightField: WritableKeyPath<Self, PersistentPointer<Self>> { get }
    init(key: Int64)
}

extension TreeNode: BenchTreeNode {
    static var leftField: WritableKeyPath<TreeNode, PersistentPointer<TreeNode>> { \.left }
    static var rightField: WritableKeyPath<TreeNode, PersistentPointer<TreeNode>> { \.right }
    init(key: Int64) { self.init(key: key, left: .null, right: .null) }
}

/// A binary tree node padded to 64 bytes (a cache line), for the trace's
/// rate on objects of a more usual size than 24 bytes.
struct TreeNode64: BenchTreeNode {
    var key: Int64
    var left: PersistentPointer<TreeNode64>
    var right: PersistentPointer<TreeNode64>
    var payload: (Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0)
    static var persistentName: String { "bench.TreeNode64" }
    static var persistentPointers: [PartialKeyPath<TreeNode64>] { [\.left, \.right] }
    static var leftField: WritableKeyPath<TreeNode64, PersistentPointer<TreeNode64>> { \.left }
    static var rightField: WritableKeyPath<TreeNode64, PersistentPointer<TreeNode64>> { \.right }
    init(key: Int64) {
        self.key = key
        left = .null
        right = .null
    }
}

/// A 64-byte object for allocation and transaction cases.
struct Object64: PersistentType {
    var words: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64)
    static var persistentName: String { "bench.Object64" }
}

/// A 256-byte object for allocation cases.
struct Object256: PersistentType {
    var halves: (Object64, Object64, Object64, Object64)
    static var persistentName: String { "bench.Object256" }
}

/// The same shuffled list and the same tree, built in our heap and in a
/// pmemobj pool, with the insertion orders shared so both walk the same path.
enum BenchStructures {
    /// Links `count` list nodes in the order of `order` (a permutation) in our heap; returns the head.
    static func buildList(_ heap: PersistentHeap, order: [Int]) throws -> PersistentPointer<ListNode> {
        let nodes = try heap.register(ListNode.self)
        var slots: [PersistentPointer<ListNode>] = []
        slots.reserveCapacity(order.count)
        for chunk in stride(from: 0, to: order.count, by: 4096) {
            try heap.transaction { tx in
                for i in chunk..<min(chunk + 4096, order.count) {
                    slots.append(try tx.allocate(nodes, ListNode(next: .null, value: Int64(i))))
                }
            }
        }
        // Node order[k] points to node order[k+1]: allocation order and walk order differ.
        for chunk in stride(from: 0, to: order.count - 1, by: 4096) {
            try heap.transaction { tx in
                for k in chunk..<min(chunk + 4096, order.count - 1) {
                    try tx.write(slots[order[k + 1]], to: slots[order[k]].field(\.next))
                }
            }
        }
        return slots[order[0]]
    }

    /// The same list in pmemobj.
    static func buildList(_ pool: PmemobjPool, order: [Int]) throws -> PMEMoid {
        var slots: [PMEMoid] = []
        slots.reserveCapacity(order.count)
        for i in 0..<order.count {
            let oid = try pool.zalloc(MemoryLayout<OidNode>.size)
            oid.direct!.assumingMemoryBound(to: OidNode.self).pointee.value = Int64(i)
            slots.append(oid)
        }
        for k in 0..<(order.count - 1) {
            slots[order[k]].direct!.assumingMemoryBound(to: OidNode.self).pointee.next = slots[order[k + 1]]
        }
        pmemobj_persist(pool.pool, slots[order[0]].direct!, 1)
        return slots[order[0]]
    }

    /// Inserts `keys` in order into a binary search tree in our heap; returns the root.
    static func buildTree<Node: BenchTreeNode>(
        _ heap: PersistentHeap, keys: [Int64], as: Node.Type = TreeNode.self
    )
        throws -> PersistentPointer<Node>
    {
        let trees = try heap.register(Node.self)
        var root = PersistentPointer<Node>.null
        for chunk in stride(from: 0, to: keys.count, by: 256) {
            try heap.transaction { tx in
                for key in keys[chunk..<min(chunk + 256, keys.count)] {
                    let node = try tx.allocate(trees, Node(key: key))
                    guard !root.isNull else {
                        root = node
                        continue
                    }
                    var at = root
                    while true {
                        let link = key < at.pointee.key ? at.field(Node.leftField) : at.field(Node.rightField)
                        let child = tx.read(link)
                        if child.isNull {
                            try tx.write(node, to: link)
                            break
                        }
                        at = child
                    }
                }
            }
        }
        return root
    }

    /// The same tree in pmemobj.
    static func buildTree(_ pool: PmemobjPool, keys: [Int64]) throws -> PMEMoid {
        var root = PMEMoid()
        for key in keys {
            let oid = try pool.zalloc(MemoryLayout<OidTreeNode>.size)
            oid.direct!.assumingMemoryBound(to: OidTreeNode.self).pointee.key = key
            guard !root.isNull else {
                root = oid
                continue
            }
            var at = root.direct!.assumingMemoryBound(to: OidTreeNode.self)
            while true {
                if key < at.pointee.key {
                    if at.pointee.left.isNull {
                        at.pointee.left = oid
                        break
                    }
                    at = at.pointee.left.direct!.assumingMemoryBound(to: OidTreeNode.self)
                } else {
                    if at.pointee.right.isNull {
                        at.pointee.right = oid
                        break
                    }
                    at = at.pointee.right.direct!.assumingMemoryBound(to: OidTreeNode.self)
                }
            }
        }
        return root
    }

    /// A copy of `count` bytes at `source` in anonymous DRAM, with every
    /// native pointer in `[source, source + count)` found by `relink` moved
    /// into the copy: the same layout, off any file mapping.
    final class DRAMCopy {
        let base: UnsafeMutableRawPointer
        let count: Int
        let delta: Int

        init(of source: UnsafeRawPointer, count: Int) {
            base = .allocate(byteCount: count, alignment: 1 << 21)
            base.copyMemory(from: source, byteCount: count)
            self.count = count
            delta = UnsafeRawPointer(base) - source
        }

        deinit { base.deallocate() }

        /// The copy of an address in the original.
        func translate<T>(_ p: UnsafeMutablePointer<T>?) -> UnsafeMutablePointer<T>? {
            p.map { UnsafeMutableRawPointer($0).advanced(by: delta).assumingMemoryBound(to: T.self) }
        }
    }
}
