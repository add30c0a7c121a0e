import Foundation
import PMemHeap

/// The large-object workload's root: the current big object and how many
/// times it was replaced. A big object holds that count in its first and
/// last words, so a torn replacement shows.
struct LargeRoot: PersistentType {
    var big: PersistentPointer<BigWords>
    var generation: Int64
    static var persistentName: String { "crash.LargeRoot" }
    static var persistentPointers: [PartialKeyPath<LargeRoot>] { [\.big] }
}

/// What the root's pointer points at: the first word of a big object.
struct BigWords {
    var first: Int64
}

/// 100 KiB: 7 slabs of 16 KiB.
let bigSize = 100 << 10

func bigDescription() throws -> TypeDescription {
    try TypeDescription(name: "crash.Big", size: bigSize, alignment: 8, pointerOffsets: [])
}

/// Replaces the big object 40 times, one transaction each (every fifth
/// allocation is aborted instead, so its run goes back unused).
func largeWork(path: String, seed: UInt64) throws {
    let heap: PersistentHeap
    if FileManager.default.fileExists(atPath: path) {
        heap = try PersistentHeap.open(path: path, types: [try bigDescription()])
    } else {
        heap = try PersistentHeap.create(
            path: path, size: 4 << 20, options: .init(slabSize: 16 << 10), types: [try bigDescription()])
    }
    let id = try heap.register(try bigDescription())
    let roots = try heap.register(LargeRoot.self)
    if try heap.root(roots).isNull {
        try heap.transaction { tx in
            try tx.setRoot(try tx.allocate(roots, LargeRoot(big: .null, generation: 0)))
        }
    }
    let root = try heap.root(roots)
    struct Abort: Error {}
    for round in 0..<40 {
        do {
            try heap.transaction { tx in
                let generation = tx.read(root.field(\.generation)) + 1
                let big = try tx.allocateZeroed(typeID: id)
                var value = generation
                try tx.write(bytes: &value, count: 8, to: big)
                try tx.write(bytes: &value, count: 8, to: big + bigSize - 8)
                if (round + Int(seed)) % 5 == 4 { throw Abort() }
                let old = tx.read(root.field(\.big))
                if !old.isNull { try tx.free(old) }
                try tx.write(
                    PersistentPointer(big.assumingMemoryBound(to: BigWords.self)), to: root.field(\.big))
                try tx.write(generation, to: root.field(\.generation))
            }
        } catch is Abort {}
    }
    try heap.close()
}

/// Checks the large workload's pool: the big object carries the root's
/// count at both ends, and the checker finds nothing wrong.
func largeVerify(path: String) throws -> [String] {
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    let heap = try PersistentHeap.open(path: path, types: [try bigDescription()])
    var failures: [String] = []
    let root = try heap.root(heap.register(LargeRoot.self))
    if !root.isNull, let big = root.pointee.big.rawAddress {
        let generation = root.pointee.generation
        let first = big.load(as: Int64.self)
        let last = big.load(fromByteOffset: bigSize - 8, as: Int64.self)
        if first != generation || last != generation {
            failures.append("big object holds \(first)/\(last), the root says \(generation)")
        }
    }
    try heap.close()
    let report = try HeapChecker.check(path: path)
    return failures + report.problems
}
