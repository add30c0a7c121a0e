@_spi(Primitives) import PMemKit

/// A small record kept in two checksummed slots written alternately: an
/// update writes the slot not holding the current value and persists it, so
/// a torn update leaves the previous value readable.
///
/// Each slot: generation (u64) at 0, fields from 8, checksum in the last 8 bytes.
struct SlotPair {
    let mapping: PMemMapping
    let offsets: [Int]
    let seed: UInt64
    /// Bytes of one slot (64 or 128).
    var slotSize = 64

    private var checksumOffset: Int { slotSize - 8 }

    /// The current slot's address and generation, or `nil` when neither slot is valid.
    func current() -> (slot: Int, generation: UInt64, fields: UnsafeRawPointer)? {
        var best: (Int, UInt64, UnsafeRawPointer)?
        for (index, offset) in offsets.enumerated() {
            let p = UnsafeRawPointer(mapping.base + offset)
            let stored = p.load(fromByteOffset: checksumOffset, as: UInt64.self)
            guard Checksum.of(p, checksumOffset, seed: seed ^ UInt64(index)) == stored else { continue }
            let generation = p.load(as: UInt64.self)
            guard generation > 0 else { continue }
            if best == nil || generation > best!.1 { best = (index, generation, p + 8) }
        }
        return best
    }

    /// Writes new fields (filled by `fill`) into the other slot and persists them.
    func update(_ fill: (UnsafeMutableRawPointer) -> Void) {
        let now = current()
        let slot = now.map { 1 - $0.slot } ?? 0
        let p = mapping.base + offsets[slot]
        p.initializeMemory(as: UInt8.self, repeating: 0, count: slotSize)
        p.storeBytes(of: (now?.generation ?? 0) + 1, as: UInt64.self)
        fill(p + 8)
        p.storeBytes(
            of: Checksum.of(p, checksumOffset, seed: seed ^ UInt64(slot)), toByteOffset: checksumOffset,
            as: UInt64.self)
        mapping.persist(p, slotSize)
    }
}
