import Foundation
import PMemHeap

/// Checks the workload's invariants on a reopened pool; returns the failures.
///
/// Every list agrees with its count and sum, every item's check word matches
/// its value and every blob points back at its item (no torn transaction);
/// each worker's committed operations are at least those acknowledged and at
/// most one more (the commit that returned just before the kill). The
/// generic checker then sees every pointer valid and every allocated object
/// reachable (none lost, none leaked).
func verify(_ heap: PersistentHeap, acknowledged: [Int64]) throws -> [String] {
    let root = try openRoot(heap)
    var failures: [String] = []
    for (index, fields) in WorkerFields.all.enumerated() {
        var node = root.pointee[keyPath: fields.head]
        var count: Int64 = 0
        var sum: Int64 = 0
        while !node.isNull && count <= 1_000_000 {
            let item = node.pointee
            if item.check != checkWord(item.value) {
                failures.append("worker \(index): item \(count) is torn")
            }
            if !item.blob.isNull && item.blob.pointee.owner != node {
                failures.append("worker \(index): item \(count)'s blob points elsewhere")
            }
            count += 1
            sum += item.value
            node = item.next
        }
        let r = root.pointee
        if count != r[keyPath: fields.count] {
            failures.append("worker \(index): \(count) items, root says \(r[keyPath: fields.count])")
        }
        if sum != r[keyPath: fields.sum] {
            failures.append("worker \(index): sum \(sum), root says \(r[keyPath: fields.sum])")
        }
        let ops = r[keyPath: fields.ops]
        let acked = index < acknowledged.count ? acknowledged[index] : 0
        if acked >= 0 && (ops < acked || ops > acked + 1) {
            failures.append("worker \(index): \(ops) operations committed, \(acked) acknowledged")
        }
    }
    return failures
}
