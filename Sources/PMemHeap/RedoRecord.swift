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

/// The on-media redo record: a 32-byte header, then entries.
///
/// ```
/// header:  seq u64 | length u32 | entry count u32 | lane u32 | flags u32 | checksum u64
/// entry:   offset (48 bits) + kind << 56 u64 | length or mask u64 | data, padded to 8
/// ```
/// The checksum covers the header words and every entry and is seeded by the
/// pool's UUID: a record that is torn, stale or from another pool does not
/// validate, which is what lets a commit need a single fence.
enum RedoRecord {
    enum Kind: UInt64 {
        case store = 1
        case setBits = 2
        case clearBits = 3
    }

    static let offsetMask: UInt64 = (1 << 48) - 1

    /// The checksum of a record whose header and entries are in place.
    static func checksum(_ record: UnsafeRawPointer, length: Int, salt: UInt64) -> UInt64 {
        let h0 = record.load(as: UInt64.self)
        let h1 = record.load(fromByteOffset: 8, as: UInt64.self)
        let h2 = record.load(fromByteOffset: 16, as: UInt64.self)
        let seed =
            Checksum.mix(salt ^ HeapFormat.Seed.record.rawValue ^ h0) ^ Checksum.mix(h1 ^ Checksum.mix(h2))
        return Checksum.of(
            record + HeapFormat.recordHeaderSize, length - HeapFormat.recordHeaderSize, seed: seed)
    }

    /// Fills in the header of a record whose entries are written.
    static func seal(
        _ record: UnsafeMutableRawPointer, seq: UInt64, length: Int, count: Int, lane: Int, salt: UInt64
    ) {
        record.storeBytes(of: seq, as: UInt64.self)
        record.storeBytes(of: UInt32(length), toByteOffset: 8, as: UInt32.self)
        record.storeBytes(of: UInt32(count), toByteOffset: 12, as: UInt32.self)
        record.storeBytes(of: UInt32(lane), toByteOffset: 16, as: UInt32.self)
        record.storeBytes(of: 0, toByteOffset: 20, as: UInt32.self)
        record.storeBytes(of: checksum(record, length: length, salt: salt), toByteOffset: 24, as: UInt64.self)
    }

    /// Sequence number of a record.
    static func seq(_ record: UnsafeRawPointer) -> UInt64 { record.load(as: UInt64.self) }
    /// Bytes of a record, header included.
    static func length(_ record: UnsafeRawPointer) -> Int {
        Int(record.load(fromByteOffset: 8, as: UInt32.self))
    }
    /// Entries of a record.
    static func count(_ record: UnsafeRawPointer) -> Int {
        Int(record.load(fromByteOffset: 12, as: UInt32.self))
    }

    /// Where a record may write: the root line and the slabs. A record that
    /// names anything else is damaged (or hostile) and is never applied.
    struct Bounds {
        let rootStart: Int
        let rootEnd: Int
        let slabsStart: Int
        let slabsEnd: Int

        init(geometry: PoolGeometry) {
            rootStart = HeapFormat.rootPointerOffset
            rootEnd = HeapFormat.rootPointerOffset + HeapFormat.rootLineSize
            slabsStart = geometry.slabsOffset
            slabsEnd = geometry.slabsOffset + geometry.slabCount * geometry.slabSize
        }

        @inline(__always) func allows(_ offset: Int, _ length: Int) -> Bool {
            length >= 0
                && ((offset >= rootStart && offset + length <= rootEnd)
                    || (offset >= slabsStart && offset + length <= slabsEnd))
        }
    }

    /// Calls `body(kind, offset, lengthOrMask, data)` for each entry after
    /// checking every entry is well formed and inside `bounds`; returns
    /// `false` (calling nothing) when any is not.
    @discardableResult
    static func forEachEntry(
        _ record: UnsafeRawPointer, bounds: Bounds,
        _ body: (Kind, Int, UInt64, UnsafeRawPointer) -> Void
    ) -> Bool {
        guard validateEntries(record, bounds: bounds) else { return false }
        var p = record + HeapFormat.recordHeaderSize
        for _ in 0..<count(record) {
            let word = p.load(as: UInt64.self)
            let kind = Kind(rawValue: word >> 56)!
            let value = p.load(fromByteOffset: 8, as: UInt64.self)
            body(kind, Int(word & offsetMask), value, p + HeapFormat.entryHeaderSize)
            p += HeapFormat.entryHeaderSize + (kind == .store ? roundUp(Int(value), 8) : 0)
        }
        return true
    }

    private static func validateEntries(_ record: UnsafeRawPointer, bounds: Bounds) -> Bool {
        let end = record + length(record)
        var p = record + HeapFormat.recordHeaderSize
        for _ in 0..<count(record) {
            guard end - p >= HeapFormat.entryHeaderSize else { return false }
            let word = p.load(as: UInt64.self)
            guard let kind = Kind(rawValue: word >> 56), (word >> 48) & 0xff == 0 else { return false }
            let offset = Int(word & offsetMask)
            let value = p.load(fromByteOffset: 8, as: UInt64.self)
            var size = HeapFormat.entryHeaderSize
            switch kind {
            case .store:
                guard value <= UInt64(end - p), bounds.allows(offset, Int(value)) else { return false }
                size += roundUp(Int(value), 8)
            case .setBits, .clearBits:
                guard offset % 8 == 0, bounds.allows(offset, 8) else { return false }
            }
            guard end - p >= size else { return false }
            p += size
        }
        return p == end
    }

    /// The entries of a record, decoded (for observers and tools).
    static func entries(_ record: UnsafeRawPointer, bounds: Bounds) -> [RedoEntry] {
        var out: [RedoEntry] = []
        forEachEntry(record, bounds: bounds) { kind, offset, value, data in
            switch kind {
            case .store:
                out.append(
                    .store(
                        offset: offset, bytes: Array(UnsafeRawBufferPointer(start: data, count: Int(value)))))
            case .setBits: out.append(.setBits(offset: offset, mask: value))
            case .clearBits: out.append(.clearBits(offset: offset, mask: value))
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
