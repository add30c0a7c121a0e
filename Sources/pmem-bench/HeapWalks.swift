import CPmemobj
import PMemHeap

// The measured loops of the heap suite, kept out of line so each side's
// loop is compiled once and the same way.

/// Walks a list of native pointers; returns the sum of its values.
@inline(never) func walkList(_ head: UnsafeMutablePointer<ListNode>?) -> Int64 {
    var sum: Int64 = 0
    var node = head
    while let n = node {
        sum &+= n.pointee.value
        node = n.pointee.next.address
    }
    return sum
}

/// Walks a list of `PMEMoid`s with `pmemobj_direct`; returns the sum of its values.
@inline(never) func walkOidList(_ head: PMEMoid) -> Int64 {
    var sum: Int64 = 0
    var oid = head
    while oid.off != 0 {
        let n = pmemobj_direct_inline(oid)!.assumingMemoryBound(to: OidNode.self)
        sum &+= n.pointee.value
        oid = n.pointee.next
    }
    return sum
}

/// Looks up every key in a tree of native pointers; returns how many were found.
@inline(never) func lookupTree(_ root: UnsafeMutablePointer<TreeNode>?, _ keys: UnsafeBufferPointer<Int64>)
    -> Int
{
    var found = 0
    for key in keys {
        var node = root
        while let n = node {
            let k = n.pointee.key
            if k == key {
                found += 1
                break
            }
            node = key < k ? n.pointee.left.address : n.pointee.right.address
        }
    }
    return found
}

/// Looks up every key in a tree of `PMEMoid`s; returns how many were found.
@inline(never) func lookupOidTree(_ root: PMEMoid, _ keys: UnsafeBufferPointer<Int64>) -> Int {
    var found = 0
    for key in keys {
        var oid = root
        while oid.off != 0 {
            let n = pmemobj_direct_inline(oid)!.assumingMemoryBound(to: OidTreeNode.self)
            let k = n.pointee.key
            if k == key {
                found += 1
                break
            }
            oid = key < k ? n.pointee.left : n.pointee.right
        }
    }
    return found
}

/// Keeps results alive so the walks are not optimized away.
nonisolated(unsafe) var benchSink: Int64 = 0

/// Visits every node of a tree depth-first with an explicit stack, marking
/// nothing: the plain walk a trace of the same tree does at least; returns
/// the sum of the keys.
@inline(never) func walkTree(
    _ root: UnsafeMutablePointer<TreeNode>?, stack: inout [UnsafeMutablePointer<TreeNode>]
)
    -> Int64
{
    var sum: Int64 = 0
    stack.removeAll(keepingCapacity: true)
    if let root { stack.append(root) }
    while let n = stack.popLast() {
        sum &+= n.pointee.key
        if let left = n.pointee.left.address { stack.append(left) }
        if let right = n.pointee.right.address { stack.append(right) }
    }
    return sum
}
