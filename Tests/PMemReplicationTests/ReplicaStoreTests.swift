import Foundation
import PMemHeap
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

final class ReplicaStoreTests: XCTestCase {
    /// Ships every record of `log` to `store` the way the agent batches them.
    private func ship(_ log: String, to store: ReplicaStore) throws {
        let region = try LogRegion.open(path: log)
        try store.follow(log: region.uuid)
        for batch in batches(of: region) {
            try batch.bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: batch.first) }
        }
    }

    func testAReplicaPromotedAtANewBaseHoldsEveryCommittedTransaction() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(500)
        XCTAssertTrue(list.replicator.wroteBaseline)
        let store = try ReplicaStore(directory: dir.file("replica"))
        try ship(dir.file("log"), to: store)
        XCTAssertEqual(store.state.lastTransaction, list.heap.lastCommittedSequence)
        XCTAssertEqual(
            store.state.appliedRecords, store.state.appliedSequence - store.state.firstSequence + 1)
        let promotion = try store.promote(to: dir.file("promoted"))
        XCTAssertEqual(promotion.poolUUID, list.heap.uuid.uuidString)
        let heap = try PersistentHeap.open(
            path: dir.file("promoted"), options: .init(placement: .differentFromRecorded))
        XCTAssertTrue(heap.openReport.relocated)
        XCTAssertEqual(try verifiedCount(heap), 500)
        // It numbers on from the last transaction it holds, as its primary would have.
        XCTAssertEqual(heap.lastCommittedSequence, promotion.transaction)
        try heap.transaction { tx in _ = try tx.allocate(Item.self, Item(value: 0, next: .null)) }
        XCTAssertEqual(heap.lastCommittedSequence, promotion.transaction + 1)
        try heap.close()
        try list.close()
    }

    func testACleanReattachContinuesAndACrashOrNewBaseWritesABaseline() throws {
        let dir = TemporaryDirectory()
        var list: ReplicatedList? = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list!.push(10)
        try list!.close()
        list = nil
        list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        XCTAssertFalse(list!.replicator.wroteBaseline, "a clean detach at the same base continues the log")
        try list!.push(10)
        let store = try ReplicaStore(directory: dir.file("replica"))
        try ship(dir.file("log"), to: store)
        try list!.close()
        list = nil
        let heap = try PersistentHeap.open(
            path: dir.file("pool"), options: .init(placement: .differentFromRecorded))
        let moved = try Replicator.attach(to: heap, logPath: dir.file("log"))
        XCTAssertTrue(moved.wroteBaseline, "a pool opened at another base needs a new baseline")
        moved.detach()
        try heap.close()
        let replica = try store.promote(to: dir.file("promoted"))
        XCTAssertEqual(replica.transaction, 21)
    }

    func testADamagedBatchIsRejectedWholeAndNothingIsApplied() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(50)
        let region = try LogRegion.open(path: dir.file("log"))
        let all = batches(of: region)
        let store = try ReplicaStore(directory: dir.file("replica"))
        try store.follow(log: region.uuid)
        try all[0].bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: all[0].first) }
        let before = store.state
        var damaged = all[1].bytes
        damaged[damaged.count / 2] ^= 0x40
        XCTAssertThrowsError(
            try damaged.withUnsafeBytes { try store.apply(batch: $0, firstSequence: all[1].first) }
        ) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .corrupt)
        }
        XCTAssertEqual(store.state, before)
        XCTAssertThrowsError(
            try all[1].bytes.withUnsafeBytes { try store.apply(batch: $0, firstSequence: all[1].first + 1) },
            "a batch that starts past the next sequence is a gap")
        XCTAssertEqual(store.state, before)
        try all[1].bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: all[1].first) }
        let after = store.state
        XCTAssertEqual(
            try all[1].bytes.withUnsafeBytes { try store.apply(batch: $0, firstSequence: all[1].first) }, 0,
            "records already applied are skipped, not applied twice")
        XCTAssertEqual(store.state, after)
        try list.close()
    }

    func testTransactionsFromAnotherLogAreRejected() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(5)
        let store = try ReplicaStore(directory: dir.file("replica"))
        try store.follow(log: UUID())
        let batch = batches(of: try LogRegion.open(path: dir.file("log")))[0]
        XCTAssertThrowsError(
            try batch.bytes.withUnsafeBytes { try store.apply(batch: $0, firstSequence: batch.first) })
        XCTAssertEqual(store.state.appliedSequence, 0)
        try list.close()
    }

    func testAStoreReopenedAfterACrashFinishesTheJournaledBatch() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(30)
        let region = try LogRegion.open(path: dir.file("log"))
        let all = batches(of: region, maxBytes: 4096)
        var store: ReplicaStore? = try ReplicaStore(directory: dir.file("replica"))
        try store!.follow(log: region.uuid)
        for batch in all.dropLast() {
            try batch.bytes.withUnsafeBytes { _ = try store!.apply(batch: $0, firstSequence: batch.first) }
        }
        // The last batch reaches the journal; the process dies before applying it.
        let last = all.last!
        let records = try last.bytes.withUnsafeBytes { bytes -> Int in
            store!.journal.stage(bytes)
            return try store!.check(
                UnsafeRawBufferPointer(start: store!.journal.data, count: bytes.count), from: last.first,
                salt: LogFormat.salt(of: region.uuid)
            ).count
        }
        store!.journal.commit(
            .init(
                firstSequence: last.first, lastSequence: last.first + UInt64(records) - 1,
                bytes: last.bytes.count,
                records: records))
        let appliedBefore = store!.state.appliedSequence
        store = nil
        let reopened = try ReplicaStore(directory: dir.file("replica"))
        XCTAssertEqual(reopened.state.appliedSequence, appliedBefore + UInt64(records))
        XCTAssertEqual(reopened.state.lastTransaction, list.heap.lastCommittedSequence)
        _ = try reopened.promote(to: dir.file("promoted"))
        let heap = try PersistentHeap.open(
            path: dir.file("promoted"), options: .init(placement: .differentFromRecorded))
        XCTAssertEqual(try verifiedCount(heap), 30)
        try heap.close()
        try list.close()
    }

    func testAStoreServesOneProcessAtATime() throws {
        let dir = TemporaryDirectory()
        let store = try ReplicaStore(directory: dir.file("replica"))
        XCTAssertThrowsError(try ReplicaStore(directory: dir.file("replica"))) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .busy)
        }
        XCTAssertThrowsError(try store.promote(to: dir.file("out"))) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .notFound)
        }
    }
}
