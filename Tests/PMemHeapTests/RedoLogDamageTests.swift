import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemHeap

/// A damaged committed redo record is found and reported, never silently
/// turned into a shorter history: within a lane every record is fenced
/// before the next, so an intact record after a broken one proves the broken
/// one was committed. Open refuses and changes nothing; `heap info` and
/// `heap check` say what is lost; losing it is the caller's explicit choice.
final class RedoLogDamageTests: XCTestCase {
    /// A pool copied while its heap is open after `count` one-node
    /// transactions, so all of them wait in the redo log (lane 0), with the
    /// pool offset of each record in commit order.
    private func poolWithPendingRecords(_ count: Int) throws -> (path: String, records: [Int]) {
        let dir = try scratchDirectory(self)
        let live = dir + "/live"
        let heap = try PersistentHeap.create(path: live, size: 8 << 20)
        let root = try buildList(heap, [])
        let nodes = try heap.register(Node.self)
        for value in 1...Int64(count) {
            try heap.transaction { tx in
                let node = try tx.allocate(nodes, Node(value: value, next: tx.read(root.field(\.head))))
                try tx.write(node, to: root.field(\.head))
                try tx.write(tx.read(root.field(\.count)) + 1, to: root.field(\.count))
            }
        }
        let copy = dir + "/crashed"
        try FileManager.default.copyItem(atPath: live, toPath: copy)
        try heap.close()
        let view = try PoolView(path: copy)
        let snapshot = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: copy)
        let scan = RedoLogScan.scan(
            in: view.base, geometry: snapshot.geometry, checkpoint: snapshot.checkpoint,
            salt: snapshot.identity.salt)
        XCTAssertFalse(scan.isDamaged)
        XCTAssertEqual(scan.records.count, count + 1, "the empty list's transaction, then one per node")
        return (copy, scan.records.map { $0.record - UnsafeRawPointer(view.base) })
    }

    /// Flips one bit inside the record at `offset` (past its header: an entry's bytes).
    private func flipBit(_ path: String, record offset: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let at = UInt64(offset + HeapFormat.recordHeaderSize + 9)
        try handle.seek(toOffset: at)
        let byte = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: at)
        try handle.write(contentsOf: Data([byte ^ 0x04]))
    }

    func testADamagedFirstPendingRecordIsReportedAndOpenChangesNothing() throws {
        let (path, records) = try poolWithPendingRecords(60)
        try flipBit(path, record: records[0])
        let before = try fileBytes(path)
        XCTAssertThrowsError(try PersistentHeap.open(path: path)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .corrupt)
            XCTAssertTrue("\(error)".contains("60 committed transactions after it"), "\(error)")
        }
        XCTAssertEqual(try fileBytes(path), before, "a refused open writes nothing")
        let info = try HeapInfo.read(path: path)
        XCTAssertEqual(info.pendingTransactions, 60, "the intact records are counted, not hidden")
        XCTAssertEqual(info.logDamage.count, 1)
        let report = try HeapChecker.check(path: path)
        XCTAssertFalse(report.healthy, "a damaged committed record is a problem, not 'healthy'")
        XCTAssertTrue(report.problems[0].contains("is damaged"), report.problems[0])
    }

    func testDamageInTheMiddleNamesTheFirstTransactionLost() throws {
        let (path, records) = try poolWithPendingRecords(60)
        try flipBit(path, record: records[30])
        let view = try PoolView(path: path)
        let snapshot = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path)
        let scan = RedoLogScan.scan(
            in: view.base, geometry: snapshot.geometry, checkpoint: snapshot.checkpoint,
            salt: snapshot.identity.salt)
        XCTAssertEqual(scan.damage.count, 1)
        XCTAssertEqual(scan.damage[0].firstLostSequence, snapshot.checkpoint + 31)
        XCTAssertEqual(scan.damage[0].intactAfter, 30)
        XCTAssertEqual(scan.replayable.count, 30, "only what precedes the damage replays in order")
        XCTAssertThrowsError(try PersistentHeap.open(path: path))
    }

    func testAcceptingTheLossReplaysThePrefixAndNeverReplaysTheRest() throws {
        let (path, records) = try poolWithPendingRecords(60)
        try flipBit(path, record: records[30])
        let heap = try PersistentHeap.open(
            path: path, options: HeapOpenOptions(damagedLog: .discardFromFirstLoss))
        XCTAssertEqual(heap.openReport.replayedTransactions, 30)
        XCTAssertEqual(heap.openReport.discardedTransactions, 30)
        XCTAssertEqual(heap.openReport.logDamage.count, 1)
        try heap.close()
        let again = try PersistentHeap.open(path: path)
        XCTAssertEqual(again.openReport.replayedTransactions, 0, "the dropped records stay dropped")
        XCTAssertTrue(again.openReport.logDamage.isEmpty)
        try again.close()
    }

    func testADamagedNewestRecordIsTreatedAsACommitCutShort() throws {
        // The one case no reader can tell apart: the lane's newest record,
        // damaged after its commit, looks like a commit torn by the crash.
        let (path, records) = try poolWithPendingRecords(20)
        try flipBit(path, record: records.last!)
        let heap = try PersistentHeap.open(path: path)
        XCTAssertEqual(heap.openReport.replayedTransactions, 20)
        XCTAssertEqual(try listValues(heap).count, 19)
        try heap.close()
    }

    func testAnIntactLogStillReplaysEverything() throws {
        let (path, _) = try poolWithPendingRecords(40)
        let heap = try PersistentHeap.open(path: path)
        XCTAssertEqual(heap.openReport.replayedTransactions, 41)
        XCTAssertEqual(try listValues(heap), Array((1...40).reversed()))
        try heap.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testMissingSequenceNumbersNeedALaneThatCanHaveHeldThemInFlight() {
        typealias Lane = RedoLogScan.LaneSummary
        func lane(_ end: UInt64) -> Lane {
            Lane(chainEnd: end, tornSequence: nil, couldHoldCutShortCommit: true, hasOrphans: false)
        }
        // Two threads: lane 0 ended at 10, lane 1 at 7; 8 missing → lane 1 held it in flight.
        var result = RedoLogScan.explain(missing: [8], lanes: [lane(10), lane(7)])
        XCTAssertEqual(result.cutShort, [8])
        XCTAssertEqual(result.unexplained, [])
        // Two missing, one lane that could hold either: only one was in flight.
        result = RedoLogScan.explain(missing: [8, 9], lanes: [lane(10), lane(7)])
        XCTAssertEqual(result.unexplained, [9])
        // A lane whose records are newer cannot have held an older commit in flight.
        result = RedoLogScan.explain(missing: [5], lanes: [lane(10), lane(7)])
        XCTAssertEqual(result.unexplained, [5])
        // A multi-lane record cut short explains exactly its own number.
        let torn = Lane(chainEnd: 0, tornSequence: 6, couldHoldCutShortCommit: false, hasOrphans: false)
        result = RedoLogScan.explain(missing: [5, 6], lanes: [lane(10), torn])
        XCTAssertEqual(result.cutShort, [6])
        XCTAssertEqual(result.unexplained, [5])
        // A lane with damage already reported explains nothing.
        let damaged = Lane(chainEnd: 2, tornSequence: nil, couldHoldCutShortCommit: true, hasOrphans: true)
        XCTAssertEqual(RedoLogScan.explain(missing: [3], lanes: [damaged]).unexplained, [3])
    }

    func testMissingSequenceNumbersAreFoundBetweenRecordsAndBoundedHoweverFarTheNewestIs() {
        XCTAssertEqual(
            RedoLogScan.missingSequences(
                after: 10, through: 20, present: [11, 12, 15, 20], excluding: [13], limit: 100),
            [14, 16, 17, 18, 19])
        XCTAssertEqual(
            RedoLogScan.missingSequences(after: 10, through: 10, present: [], excluding: [], limit: 100), [])
        // Found by fuzz-heap-pool: a resealed record 2^47 past the checkpoint made
        // every number between them a candidate, and heap info ran for minutes.
        let far = RedoLogScan.missingSequences(
            after: 5, through: 1 << 47, present: [6, 1 << 47], excluding: [], limit: 80)
        XCTAssertEqual(far, Array(7..<87))
    }

    func testTheCommandsReportTheDamageAndCheckRecoverChangesNothingUnlessTold() throws {
        let (path, records) = try poolWithPendingRecords(30)
        try flipBit(path, record: records[0])
        let info = try CLI.run(["heap", "info", path])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("LOG DAMAGE"), info.stdout)
        XCTAssertTrue(info.stdout.contains("pending transactions  30"), info.stdout)
        let check = try CLI.run(["heap", "check", path])
        XCTAssertEqual(check.status, 1, check.stdout)
        XCTAssertTrue(check.stderr.contains("is damaged"), check.stderr)
        let before = try fileBytes(path)
        let recover = try CLI.run(["heap", "check", "--recover", path])
        assertFailure(recover, mentions: "nothing was changed")
        XCTAssertEqual(try fileBytes(path), before)
        let accepted = try CLI.run(["heap", "check", "--recover", "--discard-damaged", path])
        XCTAssertTrue(accepted.stderr.contains("accepted loss"), accepted.stderr)
        let usage = try CLI.run(["heap", "check", "--discard-damaged", path])
        assertUsageError(usage, mentions: "--discard-damaged needs --recover")
    }
}

/// The type count and the checkpoint are mirrored: a damage that passes one
/// word's 16-bit check (1 in 65,536) disagrees with the other word instead
/// of silently skipping committed records.
final class MirroredCounterTests: XCTestCase {
    func testACheckpointDamagedIntoAHigherValidWordSkipsNothing() throws {
        let dir = try scratchDirectory(self)
        let live = dir + "/live"
        let heap = try PersistentHeap.create(path: live, size: 8 << 20)
        let root = try buildList(heap, [])
        let nodes = try heap.register(Node.self)
        for value in 1...Int64(25) {
            try heap.transaction { tx in
                let node = try tx.allocate(nodes, Node(value: value, next: tx.read(root.field(\.head))))
                try tx.write(node, to: root.field(\.head))
            }
        }
        let crashed = dir + "/crashed"
        try FileManager.default.copyItem(atPath: live, toPath: crashed)
        let salt = heap.pool.salt
        try heap.close()
        // The damage the old single word let through: a checkpoint 20 ahead, with matching check bits.
        let view = try PoolView(path: crashed)
        let stored = try XCTUnwrap(MirroredCounter.checkpoint(view.base, salt: salt))
        let forged = CheckedWord.encode(stored + 20, salt: salt, tag: HeapFormat.checkpointOffset)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: crashed))
        try handle.seek(toOffset: UInt64(HeapFormat.checkpointOffset))
        try handle.write(contentsOf: withUnsafeBytes(of: forged) { Data($0) })
        try handle.close()
        let reopened = try PersistentHeap.open(path: crashed)
        XCTAssertEqual(
            reopened.openReport.replayedTransactions, 26, "the mirror keeps every committed record")
        XCTAssertEqual(try listValues(reopened), Array((1...25).reversed()))
        try reopened.close()
    }

    func testAPoolWithoutMirrorsOpensAndGetsThem() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        try buildList(heap, [1, 2])
        let salt = heap.pool.salt
        try heap.close()
        // As written before the mirrors existed: zero words.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(HeapFormat.typeCountMirrorOffset))
        try handle.write(contentsOf: Data(count: 16))
        try handle.close()
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertEqual(try listValues(reopened), [1, 2])
        try reopened.close()
        let view = try PoolView(path: path)
        XCTAssertNotEqual(
            view.base.load(fromByteOffset: HeapFormat.typeCountMirrorOffset, as: UInt64.self), 0)
        XCTAssertEqual(MirroredCounter.typeCount(view.base, salt: salt), 2)
    }

    func testDisagreeingWordsGiveTheSmallerValue() throws {
        let base = UnsafeMutableRawPointer.allocate(byteCount: HeapFormat.headerSize, alignment: 64)
        defer { base.deallocate() }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.headerSize)
        let (p, m) = (HeapFormat.checkpointOffset, HeapFormat.checkpointMirrorOffset)
        MirroredCounter.store(9, base, primary: p, mirror: m, salt: 7)
        XCTAssertEqual(MirroredCounter.read(base, primary: p, mirror: m, salt: 7), 9)
        base.storeBytes(of: CheckedWord.encode(12, salt: 7, tag: p), toByteOffset: p, as: UInt64.self)
        XCTAssertEqual(
            MirroredCounter.read(base, primary: p, mirror: m, salt: 7), 9, "torn or damaged: the older")
        base.storeBytes(of: UInt64(0xdead), toByteOffset: p, as: UInt64.self)
        XCTAssertEqual(
            MirroredCounter.read(base, primary: p, mirror: m, salt: 7), 9, "one damaged word: the other")
        base.storeBytes(of: UInt64(0xbeef), toByteOffset: m, as: UInt64.self)
        XCTAssertNil(MirroredCounter.read(base, primary: p, mirror: m, salt: 7))
    }
}
