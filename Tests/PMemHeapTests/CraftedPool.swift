import CPMemHeap
import Foundation
import PMemKit

@testable import PMemHeap

/// A pool whose metadata a test rewrites with checksums that still match.
///
/// The checksums guard against torn writes and bit rot, not against anyone
/// who writes the file: they are not keyed, so a crafted header, type entry
/// or redo record validates. Every field read from media must therefore be
/// range-checked on its own; these helpers make such files with the
/// module's own checksum code.
struct CraftedPool {
    let path: String
    let mapping: PMemMapping
    let identity: PoolIdentity

    /// Maps the pool at `path` (created and closed by the test) for rewriting.
    init(path: String) throws {
        self.path = path
        mapping = try PMemMapping(path: path, options: .init(plainFile: .emulated))
        identity = try PoolIdentity.read(from: mapping.base, fileSize: mapping.size, path: path)
    }

    /// Rewrites the identity block with a changed geometry (the checksum is recomputed).
    func rewriteGeometry(_ change: (inout PoolGeometry) -> Void) {
        var geometry = identity.geometry
        change(&geometry)
        PoolIdentity(uuid: identity.uuid, geometry: geometry).write(to: mapping.base)
        mapping.persist(mapping.base, HeapFormat.identitySize)
    }

    /// Rewrites type table entry `index` (the checksum is recomputed).
    func rewriteTypeEntry(_ index: Int, _ change: (inout pmh_type_entry) -> Void) {
        let p = mapping.base + identity.geometry.typeTableOffset + index * HeapFormat.typeEntrySize
        var entry = p.load(as: pmh_type_entry.self)
        change(&entry)
        entry.checksum = checksum(
            of: entry, upTo: MemoryLayout<pmh_type_entry>.offset(of: \.checksum)!,
            seed: TypeTable.seed(salt: identity.salt, index: index))
        p.storeBytes(of: entry, as: pmh_type_entry.self)
        mapping.persist(p, HeapFormat.typeEntrySize)
    }

    /// Writes a sealed one-entry redo record with sequence number `seq` at the
    /// start of `lane`: it stores the root line's own bytes again.
    func writeRedoRecord(lane: Int, seq: UInt64) {
        let entryBytes = RedoEntryCodec.storeSize(HeapFormat.rootLineSize)
        let length = HeapFormat.recordHeaderSize + entryBytes
        let record = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 64)
        defer { record.deallocate() }
        RedoEntryCodec.encodeStore(
            at: record + HeapFormat.recordHeaderSize, offset: HeapFormat.rootLineOffset,
            from: mapping.base + HeapFormat.rootLineOffset, length: HeapFormat.rootLineSize)
        RedoRecord.seal(record, seq: seq, length: length, count: 1, lane: lane, salt: identity.salt)
        let destination = mapping.base + identity.geometry.laneOffset(lane)
        destination.copyMemory(from: record, byteCount: length)
        mapping.persist(destination, length)
    }

    /// Writes a part header (`pmh_record_part`, valid checksum) at the start of `lane`.
    func writeRecordPart(lane: Int, seq: UInt64, recordLength: UInt64) {
        var part = pmh_record_part()
        part.magic = RecordParts.magic
        part.seq = seq
        part.index = 0
        part.count = 2
        part.next_lane = UInt32(lane + 1)
        part.payload = 64
        part.record_length = recordLength
        part.checksum = checksum(
            of: part, upTo: MemoryLayout<pmh_record_part>.offset(of: \.checksum)!,
            seed: identity.salt ^ RecordParts.magic)
        let destination = mapping.base + identity.geometry.laneOffset(lane)
        destination.storeBytes(of: part, as: pmh_record_part.self)
        mapping.persist(destination, RecordParts.headerSize)
    }
}
