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

    mutating func run(operations: Int) throws {
        for _ in 0..<operations {
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

    /// Removes the head item and its blob.
    private mutating func pop() throws {
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
