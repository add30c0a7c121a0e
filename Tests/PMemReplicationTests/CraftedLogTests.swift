import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// Logs and replica stores whose checksums are valid but whose numbers are
/// not: the checksums are not keyed, so anyone can write such a file. Every
/// position and sequence number read from one is range-checked before any
/// arithmetic on it, and a bad one is a `corrupt` error naming it.
final class CraftedLogTests: XCTestCase {
    private func assertCorrupt(
        _ body: () throws -> Void, mentioning text: String, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .corrupt, "\(error)", line: line)
            XCTAssertTrue("\(error)".contains(text), "\(error)", line: line)
        }
    }

    func testReclaimPointAtTheEndOfItsRangeIsCorrupt() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("log")
        try LogRegion.create(path: path, capacity: 64 << 10).storeReclaimPoint(
            .init(position: UInt64.max & ~63, sequence: .max))
        assertCorrupt(
            {
                // Before the check, the writer's first append added to the position and trapped.
                let writer = LogWriter(region: try LogRegion.open(path: path), policy: .fail)
                try [UInt8](repeating: 1, count: 64).withUnsafeBytes {
                    _ = try writer.append(kind: .transaction, transaction: 1, payload: $0)
                }
            }, mentioning: "reclaim point")
    }

    func testReplicaStateAtTheEndOfItsRangeIsCorrupt() throws {
        let dir = TemporaryDirectory()
        let storePath = dir.file("store")
        _ = try ReplicaStore(directory: storePath, maxBatchBytes: 1 << 20)
        let mapping = try PMemMapping(path: storePath + "/state")
        var state = ReplicaState()
        state.appliedSequence = .max
        state.logUUID = UUID()
        state.write(ReplicaState.slots(in: mapping))
        assertCorrupt(
            {
                // Before the check, the first batch's gap test added one to the sequence and trapped.
                let store = try ReplicaStore(directory: storePath, maxBatchBytes: 1 << 20)
                try [UInt8](repeating: 0, count: 64).withUnsafeBytes {
                    _ = try store.apply(batch: $0, firstSequence: 1)
                }
            }, mentioning: "applied sequence 18446744073709551615")
        assertFailure(
            try CLI.run(["replica", "status", "--store", storePath]), mentions: "applied sequence")
    }

    func testJournalNamingSequencesAtTheEndOfTheirRangeIsCorrupt() throws {
        let dir = TemporaryDirectory()
        let storePath = dir.file("store")
        let log = UUID()
        do {
            let store = try ReplicaStore(directory: storePath, maxBatchBytes: 1 << 20)
            try store.follow(log: log)
            // A whole, checksummed baseline record whose sequence number is the last there is.
            let payload = BaselineBeginPayload(poolUUID: UUID(), poolSize: 1 << 20, poolBase: 0).bytes
            let header = LogRecordHeader(
                position: 0, sequence: .max, transaction: 0, time: 0, payloadLength: payload.count,
                kind: .baselineBegin)
            var record = [UInt8](repeating: 0, count: header.footprint)
            record.withUnsafeMutableBytes { bytes in
                payload.withUnsafeBytes {
                    header.writeHeader(to: bytes.baseAddress!, payload: $0, salt: LogFormat.salt(of: log))
                    (bytes.baseAddress! + LogFormat.headerSize).copyMemory(
                        from: $0.baseAddress!, byteCount: $0.count)
                }
            }
            record.withUnsafeBytes { store.journal.stage($0) }
            store.journal.commit(
                .init(firstSequence: .max, lastSequence: .max, bytes: record.count, records: 1))
        }
        // Before the check, replaying the journal counted past the last sequence number and trapped.
        assertCorrupt(
            { _ = try ReplicaStore(directory: storePath, maxBatchBytes: 1 << 20) },
            mentioning: "journal")
    }
}
