internal import CPMemReplication
@_spi(Primitives) import PMemKit

/// The replica's journal: the batch being applied, made durable before any
/// of it touches the pool copy. A crash while applying leaves the journal,
/// and reopening the store applies the batch again (every write in it sets
/// bytes to given values, so applying a batch twice leaves the same bytes):
/// the pool copy only ever shows whole transactions once the store is open.
///
/// Layout: header (`pmr_journal_header`, 64 bytes: first sequence, last
/// sequence, bytes, records, checksum at 56), then the batch's records,
/// verbatim, at `PMR_JOURNAL_DATA_OFFSET` (4096).
struct ReplicaJournal {
    let mapping: PMemMapping
    static var dataOffset: Int { Int(PMR_JOURNAL_DATA_OFFSET) }
    static let seed: UInt64 = 0x4a4f_5552_4e41_4c00
    /// Bytes of the header its checksum covers: those before the checksum field.
    private static let checkedBytes = MemoryLayout<pmr_journal_header>.offset(of: \.checksum)!

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
        var header = pmr_journal_header()
        header.first_sequence = entry.firstSequence
        header.last_sequence = entry.lastSequence
        header.bytes = UInt64(entry.bytes)
        header.records = UInt64(entry.records)
        header.checksum = withUnsafeBytes(of: header) {
            Checksum.of($0.baseAddress!, Self.checkedBytes, seed: Self.seed)
        }
        mapping.base.storeBytes(of: header, as: pmr_journal_header.self)
        mapping.persist(mapping.base, MemoryLayout<pmr_journal_header>.size)
    }

    /// The journal's entry, or `nil` when its header is not valid (never
    /// written, or torn). Throws `corrupt` for a header whose checksum
    /// matches (it is not keyed) but whose numbers are out of range.
    func entry() throws -> Entry? {
        let p = UnsafeRawPointer(mapping.base)
        let header = p.load(as: pmr_journal_header.self)
        guard Checksum.of(p, Self.checkedBytes, seed: Self.seed) == header.checksum else { return nil }
        guard header.bytes <= UInt64(capacity) else { return nil }
        // Replay counts from the first sequence number up: it must leave room to count.
        guard header.first_sequence <= header.last_sequence, header.last_sequence < LogFormat.counterLimit
        else {
            throw PMemError(
                .corrupt, operation: "replica store",
                detail: "\(mapping.path): the journal names sequences \(header.first_sequence) to "
                    + "\(header.last_sequence), out of range")
        }
        return Entry(
            firstSequence: header.first_sequence, lastSequence: header.last_sequence,
            bytes: Int(header.bytes),
            records: Int(truncatingIfNeeded: header.records))
    }
}
