@_spi(Primitives) import PMemKit

/// The replica's journal: the batch being applied, made durable before any
/// of it touches the pool copy. A crash while applying leaves the journal,
/// and reopening the store applies the batch again (every write in it sets
/// bytes to given values, so applying a batch twice leaves the same bytes):
/// the pool copy only ever shows whole transactions once the store is open.
///
/// Layout: header (64 bytes: first sequence, last sequence, bytes, records,
/// checksum at 56), then the batch's records, verbatim, at offset 4096.
struct ReplicaJournal {
    let mapping: PMemMapping
    static let dataOffset = 4096
    private static let seed: UInt64 = 0x4a4f_5552_4e41_4c00

    /// What the journal holds.
    struct Entry: Equatable {
        var firstSequence: UInt64
        var lastSequence: UInt64
        var bytes: Int
        var records: Int
    }

    /// Bytes of records the journal holds at most.
    var capacity: Int { mapping.size - Self.dataOffset }

    /// Where a batch's records are copied (page aligned, so records keep their 64-byte alignment).
    var data: UnsafeMutableRawPointer { mapping.base + Self.dataOffset }

    /// Copies a batch's records in and persists them; the header still names the previous batch.
    func stage(_ batch: UnsafeRawBufferPointer) {
        mapping.copyPersist(toOffset: Self.dataOffset, from: batch.baseAddress!, count: batch.count)
    }

    /// Makes the staged batch the journal's entry (persisted).
    func commit(_ entry: Entry) {
        let p = mapping.base
        p.storeBytes(of: entry.firstSequence, as: UInt64.self)
        p.storeBytes(of: entry.lastSequence, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: UInt64(entry.bytes), toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: UInt64(entry.records), toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: Checksum.of(p, 56, seed: Self.seed), toByteOffset: 56, as: UInt64.self)
        mapping.persist(p, 64)
    }

    /// The journal's entry, or `nil` when its header is not valid (never written, or torn).
    func entry() -> Entry? {
        let p = UnsafeRawPointer(mapping.base)
        guard Checksum.of(p, 56, seed: Self.seed) == p.load(fromByteOffset: 56, as: UInt64.self) else {
            return nil
        }
        let bytes = Int(p.load(fromByteOffset: 16, as: UInt64.self))
        guard bytes <= capacity else { return nil }
        return Entry(
            firstSequence: p.load(as: UInt64.self), lastSequence: p.load(fromByteOffset: 8, as: UInt64.self),
            bytes: bytes, records: Int(p.load(fromByteOffset: 24, as: UInt64.self)))
    }
}
