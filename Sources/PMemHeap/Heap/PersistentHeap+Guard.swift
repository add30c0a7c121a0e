import Foundation
@_spi(Primitives) import PMemKit
internal import PMemProtect

/// Guarded mode: the slabs (every object) stay read-only outside
/// transactions, through a PMemProtect `PageGuard`. A transaction opens a
/// write window for its whole span (its fresh objects are written in place,
/// its redo records applied at commit); a write anywhere else — a stray
/// pointer, a store that bypassed the transaction — faults, is reported
/// with the object it hit, and never happens: the process ends by SIGSEGV
/// before the store runs, so nothing torn reaches the pool.
extension PersistentHeap {
    /// Puts the slabs under a page guard (guarded mode).
    func guardSlabs() throws {
        let geometry = self.geometry
        let slabs = pool.base + geometry.slabsOffset
        let allocator = self.allocator
        let start = UInt(bitPattern: slabs)
        pageGuard = try PageGuard(
            slabs, length: geometry.slabCount * geometry.slabSize, label: "heap \(path)", owner: pool,
            describe: { address in
                Self.describe(
                    UInt(bitPattern: address) &- start, geometry: geometry, allocator: allocator)
            })
    }

    /// What lies `slabOffset` bytes into the slabs: "test.Node #3 +8 (slab 2)", the
    /// allocation bitmap of a slab, or a slab no type holds.
    static func describe(_ slabOffset: UInt, geometry: PoolGeometry, allocator: SlabAllocator) -> String? {
        guard slabOffset < UInt(geometry.slabCount * geometry.slabSize) else { return nil }
        let offset = Int(slabOffset)
        let slab = allocator.firstSlab(of: offset / geometry.slabSize)
        let inside = offset - slab * geometry.slabSize
        guard let type = allocator.types[Int(Atomic64.loadAcquire(allocator.slabTypes + slab))] else {
            return "slab \(slab), which holds no type"
        }
        let name = type.description.name
        guard inside >= type.layout.objectsOffset else {
            return "the allocation bitmap of slab \(slab) (\(name))"
        }
        let (slot, field) = (inside - type.layout.objectsOffset).quotientAndRemainder(
            dividingBy: type.layout.stride)
        guard slot < type.layout.count else {
            return "the tail of slab \(slab) (\(name)), past its last object"
        }
        return "\(name) #\(slot) +\(field) (slab \(slab))"
    }
}
