import CPMemReplication
import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// The replication log's and replica store's on-media layouts, now C structs
/// in pmr_format.h, write and read exactly the bytes the literal-offset code
/// before them did (`LegacyLogBytes`), so logs and stores created before still open.
final class LogFormatCompatibilityTests: XCTestCase {
    private static let poolUUID = UUID(uuid: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
    private static let logUUID = UUID(uuidString: "F132BBE5-4F20-4DA4-B108-BA356E574D39")!

    private func bytes(_ p: UnsafeRawPointer, _ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    func testTheSuperblockIsWrittenAsBefore() throws {
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10, uuid: Self.logUUID)
        region.storeAttachment(
            .init(
                poolUUID: Self.poolUUID, poolBase: 0x7f12_3456_0000, lastTransaction: 77,
                cleanlyDetached: true))
        region.storeReclaimPoint(.init(position: 0, sequence: 1))
        region.storeReclaimPoint(.init(position: 128, sequence: 2))
        let superblock = LogFormat.superblockSize
        XCTAssertEqual(bytes(region.mapping.base, superblock), Array(LegacyLogBytes.log[..<superblock]))
    }

    func testALogWrittenBeforeTheLayoutStructsOpensAndReads() throws {
        let dir = TemporaryDirectory()
        var file = LegacyLogBytes.log
        file += [UInt8](repeating: 0, count: LogFormat.superblockSize + (64 << 10) - file.count)
        try Data(file).write(to: URL(fileURLWithPath: dir.file("log")))
        let region = try LogRegion.open(path: dir.file("log"))
        XCTAssertEqual(region.uuid, Self.logUUID)
        XCTAssertEqual(region.capacity, 64 << 10)
        XCTAssertEqual(
            region.attachment(),
            .init(
                poolUUID: Self.poolUUID, poolBase: 0x7f12_3456_0000, lastTransaction: 77,
                cleanlyDetached: true))
        XCTAssertEqual(region.reclaimPoint(), .init(position: 128, sequence: 2))

        var scanner = LogScanner(region: region, from: .init(position: 0, sequence: 1))
        var records: [(LogRecordHeader, UnsafeRawBufferPointer)] = []
        while let (header, p) = scanner.next() {
            records.append(
                (header, UnsafeRawBufferPointer(start: p + LogFormat.headerSize, count: header.payloadLength))
            )
        }
        XCTAssertEqual(records.map(\.0.kind), [.transaction, .baselineBegin, .baselineEnd])
        XCTAssertEqual(records.map(\.0.sequence), [1, 2, 3])
        XCTAssertEqual(records.map(\.0.transaction), [5, 6, 6])
        XCTAssertEqual(records.map(\.0.position), [0, 192, 320])
        let (writes, redo) = try PoolWritesPayload.parse(records[0].1, poolSize: 1 << 20)
        XCTAssertEqual(writes.map(\.offset), [4096, 8192])
        XCTAssertEqual(writes.map { Array($0.bytes) }, [[1, 2, 3, 4, 5], Array(0..<16)])
        XCTAssertEqual(redo.map { Array($0) }, Array(100..<140))
        let begin = try XCTUnwrap(BaselineBeginPayload(records[1].1))
        XCTAssertEqual(begin.bytes, [UInt8](repeating: 0xab, count: 32))
    }

    func testPoolWritesPayloadsAreBuiltAsBefore() {
        let builder = PoolWritesPayload.Builder()
        [UInt8]([1, 2, 3, 4, 5]).withUnsafeBytes { builder.add(offset: 4096, bytes: $0) }
        [UInt8](0..<16).withUnsafeBytes { builder.add(offset: 8192, bytes: $0) }
        let record = [UInt8](100..<140)
        XCTAssertEqual(Array(builder.writesBeforeRecord()) + record, LegacyLogBytes.poolWrites)
    }

    func testARecordHeaderIsWrittenAndReadAsBefore() throws {
        let salt = LogFormat.salt(of: Self.poolUUID)
        let header = LogRecordHeader(
            position: 65536 + 128, sequence: 12, transaction: 34, time: 1_700_000_000_123_456_789,
            payloadLength: 13, kind: .transaction)
        let record = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { record.deallocate() }
        let payload = [UInt8](1...13)
        payload.withUnsafeBytes { header.writeHeader(to: record, payload: $0, salt: salt) }
        XCTAssertEqual(bytes(record, 48), LegacyLogBytes.recordHeader)
        (record + LogFormat.headerSize).copyMemory(from: payload, byteCount: payload.count)
        XCTAssertEqual(LogRecordHeader.validated(at: record, available: 64, salt: salt), header)
        XCTAssertNil(LogRecordHeader.validated(at: record, available: 64, salt: salt ^ 1))
    }

    func testTheJournalHeaderIsWrittenAndReadAsBefore() throws {
        let dir = TemporaryDirectory()
        let journal = ReplicaJournal(
            mapping: try PMemMapping(path: dir.file("journal"), options: .init(size: 8192, create: true)))
        let entry = ReplicaJournal.Entry(firstSequence: 5, lastSequence: 9, bytes: 4096, records: 5)
        journal.commit(entry)
        XCTAssertEqual(bytes(journal.mapping.base, 64), LegacyLogBytes.journalHeader)
        XCTAssertEqual(try journal.entry(), entry)
    }

    func testReplicaStateSlotsAreWrittenAndReadAsBefore() throws {
        let dir = TemporaryDirectory()
        let mapping = try PMemMapping(
            path: dir.file("state"), options: .init(size: ReplicaState.fileSize, create: true))
        let slots = ReplicaState.slots(in: mapping)
        ReplicaState(
            appliedSequence: 11, appliedRecords: 10, lastTransaction: 12, lastTime: 13, firstSequence: 2,
            poolGeneration: 3, inBaseline: true, logUUID: Self.poolUUID, poolUUID: Self.logUUID
        ).write(slots)
        let second = ReplicaState(
            appliedSequence: 21, appliedRecords: 20, lastTransaction: 22, lastTime: 23, firstSequence: 2,
            poolGeneration: 4, inBaseline: false, logUUID: Self.poolUUID, poolUUID: nil)
        second.write(slots)
        XCTAssertEqual(bytes(mapping.base, 256), LegacyLogBytes.replicaState)
        XCTAssertEqual(try ReplicaState.read(slots, path: "state"), second)
    }

    func testABaselineBeginPayloadIsTheUUIDSizeAndBase() throws {
        let begin = BaselineBeginPayload(
            poolUUID: Self.poolUUID, poolSize: 0x10_0000, poolBase: 0x7f12_3456_0000)
        // As the code before wrote it: UUID at 0, size at 16, base at 24, little-endian.
        let expected =
            [UInt8](1...16) + [0, 0, 0x10, 0, 0, 0, 0, 0] + [0, 0, 0x56, 0x34, 0x12, 0x7f, 0, 0]
        XCTAssertEqual(begin.bytes, expected)
        XCTAssertEqual(expected.withUnsafeBytes { BaselineBeginPayload($0) }, begin)
        XCTAssertNil(Array(expected.prefix(31)).withUnsafeBytes { BaselineBeginPayload($0) })
    }

    func testTheSwiftKindsAreTheCHeadersKinds() {
        let c: [(LogRecordKind, pmr_record_kind)] = [
            (.transaction, PMR_RECORD_TRANSACTION), (.baselineBegin, PMR_RECORD_BASELINE_BEGIN),
            (.baselineWrites, PMR_RECORD_BASELINE_WRITES), (.baselineEnd, PMR_RECORD_BASELINE_END),
            (.wrap, PMR_RECORD_WRAP),
        ]
        for (kind, cKind) in c { XCTAssertEqual(UInt32(kind.rawValue), cKind.rawValue, "\(kind)") }
        XCTAssertEqual([LogFormat.attachSlotsOffset, LogFormat.reclaimSlotsOffset], [256, 384])
    }
}
