import Foundation
import PMemHeap

/// The crash workload's root: per worker thread, a list head and the list's
/// count, sum of values and number of committed operations. Each operation
/// changes the list and these fields in one transaction, so after any crash
/// they must agree.
struct CrashRoot: PersistentType {
    var head0: PersistentPointer<Item>
    var head1: PersistentPointer<Item>
    var count0: Int64
    var count1: Int64
    var sum0: Int64
    var sum1: Int64
    var ops0: Int64
    var ops1: Int64
    static var persistentName: String { "crash.Root" }
    static var persistentPointers: [PartialKeyPath<CrashRoot>] { [\.head0, \.head1] }
}

/// A list item; `check` mirrors `value`, so a torn update shows.
struct Item: PersistentType {
    var next: PersistentPointer<Item>
    var value: Int64
    var check: Int64
    var blob: PersistentPointer<Blob>
    static var persistentName: String { "crash.Item" }
    static var persistentPointers: [PartialKeyPath<Item>] { [\.next, \.blob] }
}

/// A bigger object hanging off some items, pointing back at its owner.
struct Blob: PersistentType {
    var owner: PersistentPointer<Item>
    var words: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64)
    static var persistentName: String { "crash.Blob" }
    static var persistentPointers: [PartialKeyPath<Blob>] { [\.owner] }
}

/// The value `check` must hold for `value`.
func checkWord(_ value: Int64) -> Int64 { ~value ^ 0x5eed_c0de }

/// The key paths of one worker's fields of the root.
struct WorkerFields {
    let head: WritableKeyPath<CrashRoot, PersistentPointer<Item>>
    let count: WritableKeyPath<CrashRoot, Int64>
    let sum: WritableKeyPath<CrashRoot, Int64>
    let ops: WritableKeyPath<CrashRoot, Int64>

    static var all: [WorkerFields] {
        [
            WorkerFields(head: \.head0, count: \.count0, sum: \.sum0, ops: \.ops0),
            WorkerFields(head: \.head1, count: \.count1, sum: \.sum1, ops: \.ops1),
        ]
    }
}

/// Registers the workload's types and returns the root, creating it on first use.
func openRoot(_ heap: PersistentHeap) throws -> PersistentPointer<CrashRoot> {
    try heap.register(Item.self)
    try heap.register(Blob.self)
    let roots = try heap.register(CrashRoot.self)
    let root = try heap.root(roots)
    if !root.isNull { return root }
    return try heap.transaction { tx in
        let root = try tx.allocate(
            roots,
            CrashRoot(head0: .null, head1: .null, count0: 0, count1: 0, sum0: 0, sum1: 0, ops0: 0, ops1: 0))
        try tx.setRoot(root)
        return root
    }
}
