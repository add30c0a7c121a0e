internal import CPMemHeap
@_spi(Primitives) import PMemKit

/// One redo entry as stored in a record, decoded by `RedoEntryCodec`.
struct RedoEntryView {
    /// What the entry does.
    let kind: RedoRecord.Kind
    /// Pool offset of the bytes it changes.
    let offset: Int
    /// A store's length in bytes, or a bit entry's mask.
    let value: UInt64
    /// A store's bytes (just after the entry's header).
    let data: UnsafeRawPointer
    /// Bytes the entry occupies in the record, padding included: the distance to the next one.
    let size: Int

    /// Performs the entry's change on the pool mapped at `base` with plain
    /// stores (atomic read-modify-writes for bitmap words, which allocators
    /// on other threads update too), flushing nothing; returns the bytes it
    /// changed, for the caller to flush or note.
    @inline(__always) func apply(to base: UnsafeMutableRawPointer) -> (
        target: UnsafeMutableRawPointer, length: Int
    ) {
        let target = base + offset
        switch kind {
        case .store:
            let length = Int(value)
            if length == 8 {
                // Most stores are one word (a field, a pointer): one move, no memcpy call.
                target.storeBytes(of: data.loadUnaligned(as: UInt64.self), as: UInt64.self)
            } else {
                target.copyMemory(from: data, byteCount: length)
            }
            return (target, length)
        case .setBits:
            _ = Atomic64.fetchOr(target.assumingMemoryBound(to: UInt64.self), value)
            return (target, 8)
        case .clearBits:
            _ = Atomic64.fetchAnd(target.assumingMemoryBound(to: UInt64.self), ~value)
            return (target, 8)
        }
    }
}

/// The one place that knows how a redo entry is laid out (`pmh_redo_entry`,
/// then a store's data zero-padded to 8 bytes): every writer encodes through
/// it, and every walker (validation, recovery, the commit's own apply, a
/// transaction reading its pending writes, replicas) decodes through it.
///
/// Decoding has two entry points over one decoder: `decode(_:)` for entries
/// known to be well formed (a transaction's own record, or one that passed
/// validation), with nothing checked, and `decode(_:end:bounds:)` for bytes
/// from media or the network, which checks the entry first.
enum RedoEntryCodec {
    private static var kindShift: UInt64 { UInt64(PMH_REDO_KIND_SHIFT) }
    private static var offsetMask: UInt64 { (1 << UInt64(PMH_REDO_OFFSET_BITS)) - 1 }
    /// The bits between the offset and the kind, zero in a well-formed entry.
    private static var reservedBits: UInt64 { ~offsetMask & ~(UInt64.max << kindShift) }

    // MARK: Encoding

    /// Bytes a store entry of `length` bytes occupies.
    @inline(__always) static func storeSize(_ length: Int) -> Int {
        HeapFormat.entryHeaderSize + roundUp(length, 8)
    }

    /// Bytes a bit entry occupies.
    @inline(__always) static var bitsSize: Int { HeapFormat.entryHeaderSize }

    /// Writes a store entry at `p` (`storeSize(length)` bytes): `length` bytes
    /// from `bytes` for pool offset `offset`.
    @inline(__always) static func encodeStore(
        at p: UnsafeMutableRawPointer, offset: Int, from bytes: UnsafeRawPointer, length: Int
    ) {
        let padded = roundUp(length, 8)
        writeHeader(at: p, kind: .store, offset: offset, value: UInt64(length))
        if padded != length {
            p.storeBytes(of: 0, toByteOffset: HeapFormat.entryHeaderSize + padded - 8, as: UInt64.self)
        }
        (p + HeapFormat.entryHeaderSize).copyMemory(from: bytes, byteCount: length)
    }

    /// Writes a bit entry at `p` (`bitsSize` bytes).
    @inline(__always) static func encodeBits(
        at p: UnsafeMutableRawPointer, kind: RedoRecord.Kind, offset: Int, mask: UInt64
    ) {
        writeHeader(at: p, kind: kind, offset: offset, value: mask)
    }

    @inline(__always) private static func writeHeader(
        at p: UnsafeMutableRawPointer, kind: RedoRecord.Kind, offset: Int, value: UInt64
    ) {
        let entry = pmh_redo_entry(target: UInt64(offset) | (kind.rawValue << kindShift), value: value)
        p.storeBytes(of: entry, as: pmh_redo_entry.self)
    }

    // MARK: Decoding

    /// Decodes the entry at `p`, which must be well formed: built by this
    /// process, or in a record `RedoRecord.validateEntries` accepted.
    @inline(__always) static func decode(_ p: UnsafeRawPointer) -> RedoEntryView {
        let entry = p.load(as: pmh_redo_entry.self)
        let kind: RedoRecord.Kind
        switch entry.target >> kindShift {
        case RedoRecord.Kind.store.rawValue: kind = .store
        case RedoRecord.Kind.setBits.rawValue: kind = .setBits
        default: kind = .clearBits
        }
        return RedoEntryView(
            kind: kind, offset: Int(entry.target & offsetMask), value: entry.value,
            data: p + HeapFormat.entryHeaderSize,
            size: kind == .store ? storeSize(Int(entry.value)) : bitsSize)
    }

    /// Decodes the entry at `p` of a record that ends at `end`, or returns
    /// `nil` when it is not well formed (an unknown kind, bits set between
    /// offset and kind, a store running past `end`, a misaligned bitmap
    /// word) or changes bytes outside `bounds`.
    @inline(__always) static func decode(
        _ p: UnsafeRawPointer, end: UnsafeRawPointer, bounds: RedoRecord.Bounds
    ) -> RedoEntryView? {
        guard end - p >= HeapFormat.entryHeaderSize else { return nil }
        let entry = p.load(as: pmh_redo_entry.self)
        guard let kind = RedoRecord.Kind(rawValue: entry.target >> kindShift),
            entry.target & reservedBits == 0
        else { return nil }
        let offset = Int(entry.target & offsetMask)
        switch kind {
        case .store:
            // Checked before the length becomes an Int or is rounded up.
            guard entry.value <= UInt64(end - p), bounds.allows(offset, Int(entry.value)) else { return nil }
        case .setBits, .clearBits:
            guard offset % 8 == 0, bounds.allows(offset, 8) else { return nil }
        }
        let decoded = decode(p)
        guard end - p >= decoded.size else { return nil }
        return decoded
    }

    /// Calls `body` with each of the `count` well-formed entries from `first`
    /// (see `decode(_:)`), in order. Inlined with `body` into each caller: no
    /// closure context is allocated, which keeps it usable on the commit path.
    @inline(__always) static func forEach(
        from first: UnsafeRawPointer, count: Int, _ body: (RedoEntryView) -> Void
    ) {
        var p = first
        for _ in 0..<count {
            let entry = decode(p)
            body(entry)
            p += entry.size
        }
    }
}
