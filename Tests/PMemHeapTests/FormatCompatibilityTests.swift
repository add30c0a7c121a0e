import CPMemHeap
import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

/// The heap's on-media layouts, now C structs in pmh_format.h, write and read
/// exactly the bytes the literal-offset code before them did
/// (`LegacyHeapBytes`), so pools created before still open.
final class FormatCompatibilityTests: XCTestCase {
    private static let uuid = UUID(uuid: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
    private static let salt: UInt64 = 0x0123_4567_89ab_cdef

    private func bytes(_ p: UnsafeRawPointer, _ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    /// A 64-byte aligned copy of `bytes`, freed after the test.
    private func buffer(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 64), alignment: 64)
        p.copyMemory(from: bytes, byteCount: bytes.count)
        addTeardownBlock { p.deallocate() }
        return p
    }

    /// The records of: allocate a node, allocate another, then write 8 bytes
    /// into the first, 3 bytes into the second and free the second.
    private func runGoldenTransactions(_ heap: PersistentHeap) throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        heap.addObserver { records.append(Array($0.recordBytes)) }
        let nodes = try heap.register(Node.self)
        let node = try heap.transaction { tx in try tx.allocate(nodes, Node(value: 7, next: .null)) }
        let other = try heap.transaction { tx in try tx.allocate(nodes, Node(value: 8, next: .null)) }
        try heap.transaction { tx in
            try tx.write(Int64(0x1122_3344_5566_7788), to: node.field(\.value))
            let three: (UInt16, UInt8) = (0xa1b2, 0xc3)
            try tx.write(
                three,
                to: UnsafeMutableRawPointer(other.address!).assumingMemoryBound(to: (UInt16, UInt8).self))
            try tx.free(other)
        }
        return records
    }

    func testTransactionsEncodeTheirRedoEntriesAsBefore() throws {
        let dir = try scratchDirectory(self)
        let heap = try PersistentHeap.create(path: "\(dir)/pool", size: 8 << 20)
        defer { try? heap.close() }
        let records = try runGoldenTransactions(heap)
        XCTAssertEqual(records.count, 3)
        let header = MemoryLayout<pmh_redo_record_header>.size
        let checksum = MemoryLayout<pmh_redo_record_header>.offset(of: \.checksum)!
        // Writes and frees encode exactly as before (all but the checksum, which the pool's random UUID seeds).
        let expected = LegacyHeapBytes.writeWriteFree
        XCTAssertEqual(Array(records[2][..<checksum]), Array(expected[..<checksum]))
        XCTAssertEqual(Array(records[2][(checksum + 8)...]), Array(expected[(checksum + 8)...]))
        // An allocation's record is the old one plus one store of the new
        // object's initial bytes (Transaction.logInitialBytes): the same
        // setBits entry, then a 16-byte store holding the node.
        for (record, (old, value)) in zip(
            records, [(LegacyHeapBytes.allocateFirst, Int64(7)), (LegacyHeapBytes.allocateSecond, Int64(8))])
        {
            let oldHeader = buffer(old).load(as: pmh_redo_record_header.self)
            let newHeader = buffer(record).load(as: pmh_redo_record_header.self)
            XCTAssertEqual(newHeader.seq, oldHeader.seq)
            XCTAssertEqual(newHeader.nentries, oldHeader.nentries + 1)
            XCTAssertEqual(newHeader.length, oldHeader.length + 32)
            XCTAssertEqual(
                Array(record[header..<old.count]), Array(old[header...]), "the old entries, unchanged")
            let store = RedoEntryCodec.decode(buffer(Array(record[old.count...])))
            XCTAssertEqual(store.kind, .store)
            XCTAssertEqual(store.value, 16)
            XCTAssertEqual(store.data.load(as: Int64.self), value)
            XCTAssertEqual(store.data.load(fromByteOffset: 8, as: UInt64.self), 0, "next is null")
        }
    }

    func testSealingWritesTheSameHeaderAndChecksumAsBefore() {
        let record = buffer(LegacyHeapBytes.writeWriteFree)
        RedoRecord.seal(record, seq: 3, length: 96, count: 3, lane: 2, salt: Self.salt)
        XCTAssertEqual(bytes(record, 96), LegacyHeapBytes.resealed)
        XCTAssertTrue(RedoRecord.isSealed(record, header: RedoRecord.header(record), salt: Self.salt))
        XCTAssertFalse(RedoRecord.isSealed(record, header: RedoRecord.header(record), salt: Self.salt ^ 1))
    }

    func testTheCodecDecodesEveryKindOfEntryAsWritten() throws {
        let record = buffer(LegacyHeapBytes.resealed)
        let bounds = try RedoRecord.Bounds(
            geometry: PoolGeometry.plan(poolSize: 8 << 20, slabSize: nil, logSize: nil))
        XCTAssertTrue(RedoRecord.validateEntries(record, bounds: bounds))
        let entries = RedoRecord.entries(record, bounds: bounds)
        XCTAssertEqual(entries.count, 3)
        guard case .store(let first, let eight) = entries[0], case .store(let second, let three) = entries[1],
            case .clearBits(let word, mask: 2) = entries[2]
        else { return XCTFail("unexpected entries \(entries)") }
        XCTAssertEqual(eight, [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        XCTAssertEqual(three, [0xb2, 0xa1, 0xc3])
        XCTAssertEqual(second, first + 16)
        XCTAssertEqual(word, 0x60000)
        // The trusted walk sees the same entries, and the same sizes take it to the record's end.
        var walked: [(RedoRecord.Kind, Int, Int)] = []
        var end = RedoRecord.entries(of: record)
        RedoEntryCodec.forEach(from: end, count: 3) { entry in
            walked.append((entry.kind, entry.offset, entry.size))
            end += entry.size
        }
        XCTAssertEqual(walked.map(\.0), [.store, .store, .clearBits])
        XCTAssertEqual(walked.map(\.1), [first, second, word])
        XCTAssertEqual(walked.map(\.2), [24, 24, 16])
        XCTAssertEqual(end, UnsafeRawPointer(record + 96))
    }

    func testTheCheckedDecoderRefusesMalformedEntries() throws {
        let bounds = try RedoRecord.Bounds(
            geometry: PoolGeometry.plan(poolSize: 8 << 20, slabSize: nil, logSize: nil))
        func refuses(_ patch: (UnsafeMutableRawPointer) -> Void, _ why: String) {
            let record = buffer(LegacyHeapBytes.resealed)
            patch(RedoRecord.entries(of: record).mutable)
            XCTAssertFalse(RedoRecord.validateEntries(record, bounds: bounds), why)
        }
        refuses({ $0.storeBytes(of: 0x0900_0000_0006_0200, as: UInt64.self) }, "unknown kind")
        refuses({ $0.storeBytes(of: 0x0101_0000_0006_0200, as: UInt64.self) }, "bits between offset and kind")
        refuses({ $0.storeBytes(of: 0x0100_0000_0000_0008, as: UInt64.self) }, "store into the header")
        refuses(
            { $0.storeBytes(of: UInt64.max, toByteOffset: 8, as: UInt64.self) },
            "store longer than the record")
        refuses(
            { $0.storeBytes(of: 0x0300_0000_0006_0001, toByteOffset: 48, as: UInt64.self) }, "misaligned word"
        )
    }

    func testThePartHeaderIsWrittenAndReadAsBefore() throws {
        let lane = buffer([UInt8](repeating: 0xee, count: 64))
        RecordParts.writeHeader(
            lane, seq: 42, index: 1, count: 3, nextLane: 5, payload: 1000, recordLength: 3000, salt: Self.salt
        )
        XCTAssertEqual(bytes(lane, 64), LegacyHeapBytes.partHeader)
        let part = try XCTUnwrap(RecordParts.readHeader(lane, laneSize: 4096, salt: Self.salt))
        XCTAssertEqual(
            [part.seq, UInt64(part.index), UInt64(part.count), UInt64(part.nextLane), UInt64(part.payload)],
            [42, 1, 3, 5, 1000])
        XCTAssertEqual(part.recordLength, 3000)
        XCTAssertNil(RecordParts.readHeader(lane, laneSize: 4096, salt: Self.salt ^ 1))
    }

    func testTheIdentityBlockIsWrittenAndReadAsBefore() throws {
        // The geometry of a pool made before pools could grow (directory for the pool size only).
        let geometry = try PoolGeometry.plan(poolSize: 8 << 20, slabSize: nil, logSize: nil, maxSize: 8 << 20)
        let block = buffer([UInt8](repeating: 0xee, count: 4096))
        PoolIdentity(uuid: Self.uuid, geometry: geometry).write(to: block)
        XCTAssertEqual(bytes(block, 256), LegacyHeapBytes.identity)
        let legacy = buffer(LegacyHeapBytes.identity + [UInt8](repeating: 0, count: 4096 - 256))
        let read = try PoolIdentity.read(from: legacy, fileSize: 8 << 20, path: "golden")
        XCTAssertEqual(read, PoolIdentity(uuid: Self.uuid, geometry: geometry))
    }

    func testStateSlotsAndTypeEntriesAreWrittenAndReadAsBefore() throws {
        let dir = try scratchDirectory(self)
        let mapping = try PMemMapping(path: "\(dir)/raw", options: .init(size: 1 << 20, create: true))
        let pool = PoolMemory(mapping: mapping, salt: Self.salt)
        // The geometry of a pool made before pools could grow (directory for the pool size only).
        let geometry = try PoolGeometry.plan(poolSize: 8 << 20, slabSize: nil, logSize: nil, maxSize: 8 << 20)
        PoolState(generation: 3, cleanShutdown: true, bases: [0x7f00_0000_0000, 0x7e00_0000_0000]).write(
            into: pool, replacing: 0)
        PoolState(generation: 4, cleanShutdown: false, bases: [0x7d00_0000_0000]).write(
            into: pool, replacing: 1)
        let node = try TypeDescription(name: "golden.Node", size: 24, alignment: 8, pointerOffsets: [8, 16])
        TypeTable.append(node, index: 0, pool: pool, geometry: geometry)
        // The old header, plus the type count's mirror (added after it: the
        // words at 400 and 408, zero in old pools, which still open).
        var expected = LegacyHeapBytes.header
        let mirror = CheckedWord.encode(1, salt: Self.salt, tag: HeapFormat.typeCountMirrorOffset)
        withUnsafeBytes(of: mirror) { expected.replaceSubrange(400..<408, with: $0) }
        XCTAssertEqual(bytes(mapping.base, 4096), expected)
        XCTAssertEqual(bytes(mapping.base + geometry.typeTableOffset, 512), LegacyHeapBytes.typeEntry)

        let legacy = buffer(LegacyHeapBytes.header + LegacyHeapBytes.typeEntry)
        let (state, slot) = try PoolState.read(from: legacy, salt: Self.salt, path: "golden")
        XCTAssertEqual(state, PoolState(generation: 4, cleanShutdown: false, bases: [0x7d00_0000_0000]))
        XCTAssertEqual(slot, 0)
        let types = try TypeTable.read(from: legacy, geometry: geometry, salt: Self.salt, path: "golden")
        XCTAssertEqual(types.map(\.description), [node])
        XCTAssertEqual(types.first?.stride, 24)
    }

    func testAPoolWrittenBeforeTheLayoutStructsOpensAndRecovers() throws {
        let dir = try scratchDirectory(self)
        let path = "\(dir)/legacy"
        try Data(LegacyHeapBytes.pool).write(to: URL(fileURLWithPath: path))
        let check = try HeapChecker.check(path: path)
        XCTAssertTrue(check.healthy, "\(check.problems)")
        XCTAssertEqual(check.pendingTransactions, 2)
        let heap = try PersistentHeap.open(path: path)
        XCTAssertTrue(heap.openReport.recoveredFromCrash)
        XCTAssertEqual(heap.openReport.replayedTransactions, 2)
        XCTAssertEqual(try listValues(heap), [10, 20, 30])
        let root = try heap.root(ListRoot.self)
        XCTAssertEqual(root.pointee.count, 3)
        XCTAssertEqual(root.pointee.sum, 99)
        try heap.close()
        XCTAssertTrue(try HeapChecker.check(path: path).healthy)
    }

    func testTheSwiftKindsAreTheCHeadersKinds() {
        XCTAssertEqual(RedoRecord.Kind.store.rawValue, UInt64(PMH_REDO_STORE.rawValue))
        XCTAssertEqual(RedoRecord.Kind.setBits.rawValue, UInt64(PMH_REDO_SET_BITS.rawValue))
        XCTAssertEqual(RedoRecord.Kind.clearBits.rawValue, UInt64(PMH_REDO_CLEAR_BITS.rawValue))
        XCTAssertEqual(HeapFormat.stateSlotOffsets, [256, 320])
        XCTAssertEqual(
            [HeapFormat.typeCountOffset, HeapFormat.checkpointOffset, HeapFormat.rootPointerOffset],
            [384, 392, 448])
    }
}

extension UnsafeRawPointer {
    fileprivate var mutable: UnsafeMutableRawPointer { UnsafeMutableRawPointer(mutating: self) }
}
