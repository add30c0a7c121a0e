internal import CPMemHeap
@_spi(Primitives) import PMemKit

/// One change a committed transaction makes, as stored in its redo record.
/// Offsets are from the start of the pool, so a record means the same on
/// any machine and at any base (replication ships them as they are).
public enum RedoEntry: Equatable, Sendable {
    /// Write `bytes` at `offset`.
    case store(offset: Int, bytes: [UInt8])
    /// OR `mask` into the 8-byte word at `offset` (allocation bitmap).
    case setBits(offset: Int, mask: UInt64)
    /// Clear the bits of `mask` in the 8-byte word at `offset` (free).
    case clearBits(offset: Int, mask: UInt64)
}

/// The on-media redo record: a 32-byte header (`pmh_redo_record_header`),
/// then entries (`pmh_redo_entry` and data, see `RedoEntryCodec`).
///
/// ```
/// header:  seq u64 | length u32 | entry count u32 | lane u32 | flags u32 | checksum u64
/// entry:   offset (48 bits) + kind << 56 u64 | length or mask u64 | data, padded to 8
/// ```
/// The checksum covers the header words and every entry and is seeded by the
/// pool's UUID: a record that is torn, stale or from another pool does not
/// validate, which is what lets a commit need a single fence.
enum RedoRecord {
    /// What an entry does (`enum pmh_redo_kind`).
    enum Kind: UInt64 {
        case store = 1
        case setBits = 2
        case clearBits = 3
    }

    /// The header of the record at `record`.
    @inline(__always) static func header(_ record: UnsafeRawPointer) -> pmh_redo_record_header {
        record.load(as: pmh_redo_record_header.self)
    }

    /// The checksum of a record with `header` whose entries are in place at
    /// `record`. Its seed mixes the salt with the header's three words before
    /// the checksum (seq, length | count << 32, lane | flags << 32).
    static func checksum(_ record: UnsafeRawPointer, header: pmh_redo_record_header, salt: UInt64) -> UInt64 {
        let lengthAndCount = UInt64(header.length) | UInt64(header.nentries) << 32
        let laneAndFlags = UInt64(header.lane) | UInt64(header.flags) << 32
        let seed =
            Checksum.mix(salt ^ HeapFormat.Seed.record.rawValue ^ header.seq)
            ^ Checksum.mix(lengthAndCount ^ Checksum.mix(laneAndFlags))
        return Checksum.of(
            record + HeapFormat.recordHeaderSize, Int(header.length) - HeapFormat.recordHeaderSize, seed: seed
        )
    }

    /// Whether the record at `record` (whose `header.length` bytes are
    /// readable) carries the checksum its bytes have under `salt`, and a
    /// sequence number the checkpoint word can hold (48 bits). A heap never
    /// writes a larger one; a crafted record with one (its checksum is not
    /// keyed) would become the checkpoint and the next sequence number, which
    /// neither the checkpoint word nor the counter can take.
    static func isSealed(_ record: UnsafeRawPointer, header: pmh_redo_record_header, salt: UInt64) -> Bool {
        header.seq <= CheckedWord.valueMask && header.checksum == checksum(record, header: header, salt: salt)
    }

    /// Fills in the header of a record whose entries are written.
    @inline(__always) static func seal(
        _ record: UnsafeMutableRawPointer, seq: UInt64, length: Int, count: Int, lane: Int, salt: UInt64
    ) {
        var header = pmh_redo_record_header(
            seq: seq, length: UInt32(length), nentries: UInt32(count), lane: UInt32(lane), flags: 0,
            checksum: 0)
        header.checksum = checksum(record, header: header, salt: salt)
        record.storeBytes(of: header, as: pmh_redo_record_header.self)
    }

    /// Sequence number of a record.
    static func seq(_ record: UnsafeRawPointer) -> UInt64 { header(record).seq }
    /// Bytes of a record, header included.
    static func length(_ record: UnsafeRawPointer) -> Int { Int(header(record).length) }
    /// The first entry of a record.
    @inline(__always) static func entries(of record: UnsafeRawPointer) -> UnsafeRawPointer {
        record + HeapFormat.recordHeaderSize
    }

    /// Where a record may write: the root line and the slabs. A record that
    /// names anything else is damaged (or hostile) and is never applied.
    struct Bounds {
        let rootStart: Int
        let rootEnd: Int
        let slabsStart: Int
        let slabsEnd: Int

        init(geometry: PoolGeometry) {
            rootStart = HeapFormat.rootLineOffset
            rootEnd = HeapFormat.rootLineOffset + HeapFormat.rootLineSize
            slabsStart = geometry.slabsOffset
            slabsEnd = geometry.slabsOffset + geometry.slabCount * geometry.slabSize
        }

        @inline(__always) func allows(_ offset: Int, _ length: Int) -> Bool {
            length >= 0
                && ((offset >= rootStart && offset + length <= rootEnd)
                    || (offset >= slabsStart && offset + length <= slabsEnd))
        }
    }

    /// Calls `body` with each entry after checking every entry is well formed
    /// and inside `bounds`; returns `false` (calling nothing) when any is not.
    @discardableResult
    static func forEachEntry(
        _ record: UnsafeRawPointer, bounds: Bounds, _ body: (RedoEntryView) -> Void
    ) -> Bool {
        guard validateEntries(record, bounds: bounds) else { return false }
        RedoEntryCodec.forEach(from: entries(of: record), count: Int(header(record).nentries), body)
        return true
    }

    /// Whether the record's entries are well formed, inside `bounds`, and
    /// fill its length exactly (`RedoEntryCodec.decode(_:end:bounds:)` on each).
    static func validateEntries(_ record: UnsafeRawPointer, bounds: Bounds) -> Bool {
        let header = header(record)
        let end = record + Int(header.length)
        var p = entries(of: record)
        for _ in 0..<header.nentries {
            guard let entry = RedoEntryCodec.decode(p, end: end, bounds: bounds) else { return false }
            p += entry.size
        }
        return p == end
    }

    /// The entries of a record, decoded (for observers and tools).
    static func entries(_ record: UnsafeRawPointer, bounds: Bounds) -> [RedoEntry] {
        var out: [RedoEntry] = []
        forEachEntry(record, bounds: bounds) { entry in
            switch entry.kind {
            case .store:
                out.append(
                    .store(
                        offset: entry.offset,
                        bytes: Array(UnsafeRawBufferPointer(start: entry.data, count: Int(entry.value)))))
            case .setBits: out.append(.setBits(offset: entry.offset, mask: entry.value))
            case .clearBits: out.append(.clearBits(offset: entry.offset, mask: entry.value))
            }
        }
        return out
    }
}

/// A transaction that has committed: handed to the heap's observers right
/// after the commit point (fence observers: just before it), before its
/// changes are applied in place.
public struct CommittedTransaction {
    /// The commit sequence number: increasing over the pool's lifetime, the order of replay.
    public let sequence: UInt64
    /// The record exactly as stored in the redo log (valid during the call only).
    public let recordBytes: UnsafeRawBufferPointer
    let bounds: RedoRecord.Bounds
    /// Whether the heap issues a fence (`sfence`) after this call and before
    /// the commit returns: a fence observer may then leave
    /// its non-temporal stores and flushes to that fence.
    public let fenceFollows: Bool

    /// The record's entries, decoded.
    public var entries: [RedoEntry] {
        RedoRecord.entries(recordBytes.baseAddress!, bounds: bounds)
    }
}
