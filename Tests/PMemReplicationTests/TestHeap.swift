import Foundation
import PMemHeap
import PMemKit
import TestSupport

@testable import PMemReplication

/// A list node for in-process replication tests.
struct Item: PersistentType {
    var value: UInt64
    var next: PersistentPointer<Item>
    static var persistentName: String { "repl-tests.Item" }
    static var persistentPointers: [PartialKeyPath<Item>] { [\Item.next] }
}

/// The list's root.
struct Head: PersistentType {
    var count: UInt64
    var first: PersistentPointer<Item>
    static var persistentName: String { "repl-tests.Head" }
    static var persistentPointers: [PartialKeyPath<Head>] { [\Head.first] }
}

/// A heap with a replicator, pushing items one transaction at a time.
final class ReplicatedList {
    let heap: PersistentHeap
    let replicator: Replicator
    let root: UnsafeMutablePointer<Head>

    init(pool: String, log: String, options: Replicator.Options = .init(logCapacity: 1 << 20)) throws {
        heap =
            FileManager.default.fileExists(atPath: pool)
            ? try PersistentHeap.open(path: pool)
            : try PersistentHeap.create(path: pool, size: 8 << 20, options: .init(slabSize: 16 << 10))
        try heap.register(Item.self)
        try heap.register(Head.self)
        replicator = try Replicator.attach(to: heap, logPath: log, options: options)
        var head = try heap.root(Head.self)
        if head.isNull {
            head = try replicator.transaction { tx in
                let made = try tx.allocate(Head.self, Head(count: 0, first: .null))
                try tx.setRoot(made)
                return made
            }
        }
        root = head.address!
    }

    /// Pushes `n` items, one transaction each.
    func push(_ n: Int) throws {
        for _ in 0..<n {
            try replicator.transaction { tx in
                let head = tx.read(root)
                let item = try tx.allocate(Item.self, Item(value: head.count + 1, next: head.first))
                try tx.write(Head(count: head.count + 1, first: item), to: root)
            }
        }
    }

    func close() throws {
        replicator.detach()
        try heap.close()
    }
}

/// Checks a pool's list: count, count-1, ..., 1. Returns the count.
func verifiedCount(_ heap: PersistentHeap) throws -> UInt64 {
    try heap.register(Item.self)
    try heap.register(Head.self)
    let head = try heap.root(Head.self)
    guard let address = head.address else { return 0 }
    var expected = address.pointee.count
    var item = address.pointee.first
    while let node = item.address {
        guard node.pointee.value == expected else {
            throw ProtocolError("item holds \(node.pointee.value), expected \(expected)")
        }
        expected -= 1
        item = node.pointee.next
    }
    guard expected == 0 else { throw ProtocolError("the list is short by \(expected)") }
    return address.pointee.count
}

/// The records of a log from its reclaim point (or from `first`, through
/// `last`), as batches of consecutive bytes (split where the ring wraps or a
/// baseline ends, as the agent does).
func batches(
    of region: LogRegion, from first: UInt64? = nil, through last: UInt64 = .max, maxBytes: Int = 1 << 20
) -> [(first: UInt64, bytes: [UInt8])] {
    var index = RecordIndex(region: region)
    index.refresh()
    var out: [(UInt64, [UInt8])] = []
    var next = first ?? index.firstSequence
    while let run = index.run(from: next, through: last, maxBytes: maxBytes) {
        let start = region.ring + Int(run.position % UInt64(region.capacity))
        out.append((next, Array(UnsafeRawBufferPointer(start: start, count: run.bytes))))
        next += UInt64(run.count)
    }
    return out
}
