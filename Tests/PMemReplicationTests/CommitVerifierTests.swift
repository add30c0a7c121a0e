import Foundation
import Logging
import PMemHeap
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// The agent ships a transaction only once the primary's pool shows it
/// committed: a log record whose transaction the pool never got (the
/// application died between the two records) is held while the application
/// runs, never shipped once it ended, and skipped for the baseline the next
/// attach writes.
final class CommitVerifierTests: XCTestCase {
    private let logger = Logger(label: "test")

    /// Copies the pool and the log at the moment commit `sequence` has its log
    /// record and the pool does not have its redo record yet (the fence
    /// observer after the replicator's runs there).
    private final class Snapshot: FenceObserver {
        let sequence: UInt64
        let files: [(from: String, to: String)]
        init(sequence: UInt64, files: [(String, String)]) {
            self.sequence = sequence
            self.files = files
        }
        func committing(_ committed: CommittedTransaction) {
            guard committed.sequence == sequence else { return }
            for (from, to) in files { try! FileManager.default.copyItem(atPath: from, toPath: to) }
        }
    }

    /// A process id that no longer runs.
    private func endedProcess() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    /// A log and pool as an application killed inside commit 12 leaves them:
    /// the log holds transactions 1...12, the pool 1...11.
    private func killedMidCommit(_ dir: TemporaryDirectory) throws -> (log: LogRegion, pool: String) {
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        list.heap.addFenceObserver(
            Snapshot(
                sequence: 12,
                files: [
                    (dir.file("pool"), dir.file("pool.killed")), (dir.file("log"), dir.file("log.killed")),
                ]))
        try list.push(15)
        try list.close()
        let region = try LogRegion.open(path: dir.file("log.killed"))
        try region.storePoolPath(dir.file("pool.killed"))
        return (region, dir.file("pool.killed"))
    }

    func testThePoolProbeAnswersAsRecoveryWould() throws {
        let dir = TemporaryDirectory()
        let (region, pool) = try killedMidCommit(dir)
        let probe = try PoolCommitProbe(path: pool)
        var index = RecordIndex(region: region)
        index.refresh()
        var held: [UInt64] = []
        for sequence in index.firstSequence...index.lastSequence
        where index.entry(sequence)?.kind == .transaction {
            let record = try XCTUnwrap(
                PoolWritesPayload.redoRecord(in: index.payload(of: sequence, in: region)!))
            if probe.holds(record: record) { held.append(index.entry(sequence)!.transaction) }
        }
        XCTAssertEqual(held, Array(1...11), "the pool holds commits 1...11, not 12")
        let heap = try PersistentHeap.open(path: pool)
        XCTAssertEqual(heap.lastCommittedSequence, 11, "recovery agrees")
        try heap.close()
    }

    func testARecordThePoolLacksIsHeldWhileTheApplicationRunsAndNeverShippedAfter() throws {
        let dir = TemporaryDirectory()
        let (region, _) = try killedMidCommit(dir)
        let verifier = CommitVerifier(region: region, verifiedThrough: 0, logger: logger)
        var index = RecordIndex(region: region)
        verifier.advance(&index)
        let last = index.lastSequence
        XCTAssertEqual(index.entry(last)?.transaction, 12)
        // Attached by this (running) process: commit 12 may still reach the pool.
        XCTAssertEqual(verifier.verifiedThrough, last - 1)
        // The application ended: the pool, as it left it, lacks commit 12.
        var ended = try XCTUnwrap(region.attachment())
        ended.processID = try endedProcess()
        region.storeAttachment(ended)
        verifier.advance(&index)
        XCTAssertEqual(verifier.verifiedThrough, last - 1, "never shipped")
        XCTAssertNil(verifier.skip(at: last))
    }

    func testRecordsThePoolLacksAreSkippedForTheNextBaseline() throws {
        let dir = TemporaryDirectory()
        let (region, pool) = try killedMidCommit(dir)
        var ended = try XCTUnwrap(region.attachment())
        ended.processID = try endedProcess()
        region.storeAttachment(ended)
        // The application restarts: recovery, then an attach that writes a baseline.
        let list = try ReplicatedList(pool: pool, log: dir.file("log.killed"))
        XCTAssertTrue(list.replicator.wroteBaseline)
        try list.push(3)
        let verifier = CommitVerifier(region: region, verifiedThrough: 0, logger: logger)
        var index = RecordIndex(region: region)
        verifier.advance(&index)
        XCTAssertEqual(
            verifier.verifiedThrough, index.lastSequence, "the new session's records are committed")
        let skipped = try XCTUnwrap(verifier.skips.first)
        XCTAssertEqual(skipped.first, 1)
        XCTAssertEqual(index.entry(skipped.baseline)?.kind, .baselineBegin)
        XCTAssertEqual(index.entry(skipped.baseline - 1)?.transaction, 12, "up to the record the pool lacks")
        // A replica that applied commits up to 11 continues at the baseline: the gap is allowed there only.
        let store = try ReplicaStore(directory: dir.file("replica"))
        try store.follow(log: region.uuid)
        for batch in batches(of: region, through: skipped.baseline - 2) {
            try batch.bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: batch.first) }
        }
        XCTAssertEqual(store.state.lastTransaction, 11)
        let rest = batches(of: region, from: skipped.baseline)
        XCTAssertThrowsError(
            try rest.last!.bytes.withUnsafeBytes {
                try store.apply(batch: $0, firstSequence: rest.last!.first)
            },
            "a gap to a transaction is refused")
        for batch in rest {
            try batch.bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: batch.first) }
        }
        let lastCommitted = list.heap.lastCommittedSequence
        try list.close()
        let promoted = try store.promote(to: dir.file("promoted"))
        XCTAssertEqual(promoted.transaction, lastCommitted)
        let heap = try PersistentHeap.open(path: dir.file("promoted"))
        XCTAssertEqual(try verifiedCount(heap), 10 + 3, "commits 2...11 pushed 10, the new session 3")
        try heap.close()
    }

    func testACleanDetachOrCloseShowsEveryRecordCommitted() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(5)
        try list.close()
        let region = try LogRegion.open(path: dir.file("log"))
        let verifier = CommitVerifier(region: region, verifiedThrough: 0, logger: logger)
        var index = RecordIndex(region: region)
        verifier.advance(&index)
        XCTAssertEqual(verifier.verifiedThrough, index.lastSequence)
    }
}
