internal import CPMemReplication
@_spi(Primitives) import PMemKit

/// A record kept in two slots (a struct of pmr_format.h) whose first word is
/// a generation and whose last is a checksum of the bytes before it.
protocol SlotRecord {
    /// Increases with each update; the valid slot with the higher one is current.
    var generation: UInt64 { get set }
    /// Of every byte of the slot before it.
    var checksum: UInt64 { get set }
    /// An all-zero record.
    init()
}

extension pmr_attach_slot: SlotRecord {}
extension pmr_reclaim_slot: SlotRecord {}
extension pmr_replica_state_slot: SlotRecord {}
extension pmr_pool_path_slot: SlotRecord {}

/// A small record kept in two checksummed slots written alternately: an
/// update writes the slot not holding the current value and persists it, so
/// a torn update leaves the previous value readable.
///
/// The two slots lie one after the other from `offset`; each is a `Slot`,
/// whose checksum (its last 8 bytes, as pmr_format.h asserts) is seeded by
/// `seed` and the slot's number.
struct SlotPair<Slot: SlotRecord> {
    let mapping: PMemMapping
    /// Where the first slot starts in the mapping.
    let offset: Int
    let seed: UInt64

    /// Bytes of a slot its checksum covers: all but the checksum itself.
    private var checkedBytes: Int { MemoryLayout<Slot>.size - MemoryLayout<UInt64>.size }

    private func address(_ slot: Int) -> UnsafeMutableRawPointer {
        mapping.base + offset + slot * MemoryLayout<Slot>.stride
    }

    /// Generations below this are possible (one per update); a whole slot
    /// holding a larger one is damaged all the same, and the next update's
    /// `generation + 1` would overflow.
    static var generationLimit: UInt64 { 1 << 62 }

    /// The current slot's number and contents, or `nil` when neither slot is valid.
    func current() -> (slot: Int, value: Slot)? {
        var best: (slot: Int, value: Slot)?
        for index in 0..<2 {
            let p = UnsafeRawPointer(address(index))
            let value = p.load(as: Slot.self)
            guard Checksum.of(p, checkedBytes, seed: seed ^ UInt64(index)) == value.checksum,
                value.generation > 0, value.generation < Self.generationLimit
            else { continue }
            if best == nil || value.generation > best!.value.generation { best = (index, value) }
        }
        return best
    }

    /// Writes a new record (zeroed, then filled by `fill`) into the other slot and persists it.
    func update(_ fill: (inout Slot) -> Void) {
        let now = current()
        let index = now.map { 1 - $0.slot } ?? 0
        var value = Slot()
        fill(&value)
        value.generation = (now?.value.generation ?? 0) + 1
        value.checksum = withUnsafeBytes(of: value) {
            Checksum.of($0.baseAddress!, checkedBytes, seed: seed ^ UInt64(index))
        }
        let p = address(index)
        p.storeBytes(of: value, as: Slot.self)
        mapping.persist(p, MemoryLayout<Slot>.size)
    }
}
