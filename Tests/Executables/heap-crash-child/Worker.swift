import Foundation
import PMemHeap

/// One worker thread: random transactions on its own list, each followed by
/// an `ack WORKER OPS` line on stdout once the commit has returned.
struct Worker {
    let heap: PersistentHeap
    let root: PersistentPointer<CrashRoot>
    let index: Int
    var random: SplitMix

    private var fields: WorkerFields { WorkerFields.all[index] }
    /// In a reachability pool, an object allocated outside a transaction and
    /// freed one operation later: a kill in between leaves it unlinked, which
    /// the next open must reclaim.
    var scratch: PersistentPointer<Blob> = .null

    mutating func run(operations: Int) throws {
        let unlogged = heap.recovery == .reachability
        defer { if !scratch.isNull { try? heap.free(scratch) } }
        for _ in 0..<operations {
            if unlogged {
                if scratch.isNull {
                    scratch = try heap.allocate(heap.register(Blob.self))
                } else {
                    try heap.free(scratch)
                    scratch = .null
                }
            }
            let count = root.pointee[keyPath: fields.count]
            let choice = random.next() % 100
            if count > 200 || (count > 0 && choice < 35) {
                try pop()
            } else if choice < 60 {
                try push(1 + Int(random.next() % 3))
            } else if choice < 90 {
                try update()
            } else if choice < 99 {
                try push(20 + Int(random.next() % 40))
            } else {
                try pushAndPopMany()
            }
            let ops = root.pointee[keyPath: fields.ops]
            let line = "ack \(index) \(ops)\n"
            _ = line.withCString { write(1, $0, strlen($0)) }
        }
    }

    /// Pushes `n` items (some with a blob) in one transaction.
    mutating func push(_ n: Int) throws {
        var values: [Int64] = []
        for _ in 0..<n { values.append(Int64(random.next() % 1000)) }
        let withBlob = values.map { _ in random.next() % 2 == 0 }
        if heap.recovery == .reachability && random.next() % 2 == 0 {
            return try pushAllocatedOutside(values, withBlob: withBlob)
        }
        try heap.transaction { tx in
            var head = tx.read(root.field(fields.head))
            for (value, blob) in zip(values, withBlob) {
                let item = try tx.allocate(
                    Item.self, Item(next: head, value: value, check: checkWord(value), blob: .null))
                if blob {
                    let b = try tx.allocate(Blob.self, Blob(owner: item, words: (value, 1, 2, 3, 4, 5, 6, 7)))
                    try tx.write(b, to: item, field: \.blob)
                }
                head = item
            }
            try tx.write(head, to: root.field(fields.head))
            try tx.write(tx.read(root.field(fields.count)) + Int64(n), to: root.field(fields.count))
            try tx.write(tx.read(root.field(fields.sum)) + values.reduce(0, +), to: root.field(fields.sum))
            try tx.write(tx.read(root.field(fields.ops)) + 1, to: root.field(fields.ops))
        }
    }

    /// `push` as a reachability pool allows: the objects allocated outside the
    /// transaction and filled with plain stores, made durable with `persist`,
    /// then linked by one transaction. A kill before the commit leaves them
    /// unlinked: the next open reclaims them.
    private mutating func pushAllocatedOutside(_ values: [Int64], withBlob: [Bool]) throws {
        let items = try heap.register(Item.self)
        let blobs = try heap.register(Blob.self)
        var head = root.pointee[keyPath: fields.head]
        for (value, blob) in zip(values, withBlob) {
            let item = try heap.allocate(items)
            item.address!.pointee = Item(next: head, value: value, check: checkWord(value), blob: .null)
            if blob {
                let b = try heap.allocate(blobs)
                b.address!.pointee = Blob(owner: item, words: (value, 1, 2, 3, 4, 5, 6, 7))
                item.address!.pointee.blob = b
                heap.persist(b)
            }
            heap.persist(item)
            head = item
        }
        let n = Int64(values.count)
        try heap.transaction { tx in
            try tx.write(head, to: root.field(fields.head))
            try tx.write(tx.read(root.field(fields.count)) + n, to: root.field(fields.count))
            try tx.write(tx.read(root.field(fields.sum)) + values.reduce(0, +), to: root.field(fields.sum))
            try tx.write(tx.read(root.field(fields.ops)) + 1, to: root.field(fields.ops))
        }
    }

    /// Removes the head item and its blob.
    private mutating func pop() throws {
        if heap.recovery == .reachability && random.next() % 2 == 0 { return try popFreeingOutside() }
        try heap.transaction { tx in
            let head = tx.read(root.field(fields.head))
            guard !head.isNull else { return }
            let item = tx.read(head.address!)
            if !item.blob.isNull { try tx.free(item.blob) }
            try tx.free(head)
            try tx.write(item.next, to: root.field(fields.head))
            try tx.write(tx.read(root.field(fields.count)) - 1, to: root.field(fields.count))
            try tx.write(tx.read(root.field(fields.sum)) - item.value, to: root.field(fields.sum))
            try tx.write(tx.read(root.field(fields.ops)) + 1, to: root.field(fields.ops))
        }
    }

    /// `pop` as a reachability pool allows: one transaction unlinks the head,
    /// then its objects are freed outside it (a kill in between: reclaimed).
    private mutating func popFreeingOutside() throws {
        let head = root.pointee[keyPath: fields.head]
        guard !head.isNull else { return }
        let item = head.pointee
        try heap.transaction { tx in
            try tx.write(item.next, to: root.field(fields.head))
            try tx.write(tx.read(root.field(fields.count)) - 1, to: root.field(fields.count))
            try tx.write(tx.read(root.field(fields.sum)) - item.value, to: root.field(fields.sum))
            try tx.write(tx.read(root.field(fields.ops)) + 1, to: root.field(fields.ops))
        }
        if !item.blob.isNull { try heap.free(item.blob) }
        try heap.free(head)
    }

    /// Changes the values of up to 8 items near the head.
    private mutating func update() throws {
        let deltas = (0..<8).map { _ in Int64(random.next() % 21) - 10 }
        try heap.transaction { tx in
            var node = tx.read(root.field(fields.head))
            var total: Int64 = 0
            for delta in deltas where !node.isNull {
                let value = tx.read(node.field(\.value)) + delta
                try tx.write(value, to: node, field: \.value)
                try tx.write(checkWord(value), to: node, field: \.check)
                total += delta
                node = tx.read(node.field(\.next))
            }
            try tx.write(tx.read(root.field(fields.sum)) + total, to: root.field(fields.sum))
            try tx.write(tx.read(root.field(fields.ops)) + 1, to: root.field(fields.ops))
        }
    }

    /// A large transaction (more redo than one lane): push many, then pop as many in another.
    private mutating func pushAndPopMany() throws {
        try push(600)
        let ops = root.pointee[keyPath: fields.ops]
        let line = "ack \(index) \(ops)\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
        for _ in 0..<600 {
            try pop()
            let line = "ack \(index) \(root.pointee[keyPath: fields.ops])\n"
            _ = line.withCString { write(1, $0, strlen($0)) }
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failing seed replays.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
