internal import CPMemHeap
import Dispatch
import Foundation
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// Pointer swizzling: moves every pointer field of every allocated object,
/// and the root, from the bases the pool was at to the base it is at now.
///
/// Slabs → type → allocated objects (bitmap) → pointer offsets, in parallel:
/// worker threads take slabs from a shared counter. Each worker fences its
/// own flushes before it finishes, so once `run` returns every rewritten
/// field is durable. Because old and new ranges never overlap (see
/// `BasePlacement`), a field already moved is recognised and left alone:
/// a crash at any point, then another run, finishes the job.
enum Relocator {
    /// `MADV_POPULATE_WRITE` (Linux 5.14); older kernels refuse it and the pages fault in as usual.
    private static let populateWrite: Int32 = 23

    /// What the workers share.
    private final class Shared: @unchecked Sendable {
        var relocation = pmh_relocation()
        var work: [(slab: Int, type: TypeRuntime)] = []
        let next = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        let done = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        let lock = NSLock()
        var stats = pmh_relocation_stats()

        init() {
            next.initialize(to: 0)
            done.initialize(to: 0)
        }

        deinit {
            next.deallocate()
            done.deallocate()
        }
    }

    /// Relocates `pool` (now at `pool.base`) from the bases in `from`.
    static func run(
        pool: PoolMemory, geometry: PoolGeometry, slabTypes: [UInt32], types: [TypeRuntime], from: [UInt64],
        threads: Int, progress: (@Sendable (RelocationProgress) -> Void)?
    ) -> RelocationStats {
        let shared = Shared()
        shared.relocation.nfrom = UInt32(from.count)
        withElements(of: &shared.relocation.from, as: UInt64.self) {
            _ = $0.update(fromContentsOf: from.prefix(Int(PMH_MAX_BASES)))
        }
        shared.relocation.span = UInt64(geometry.poolSize)
        shared.relocation.to = pool.baseAddress
        shared.relocation.flush = pool.cFlushFunction
        for (slab, id) in slabTypes.enumerated() where id != 0 {
            shared.work.append((slab, types[Int(id) - 1]))
        }
        let total = shared.work.count
        let workers = max(1, min(threads, total))
        let started = Date()

        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var stats = pmh_relocation_stats()
            var lastReport = Date()
            while true {
                let index = Int(Atomic64.fetchAdd(shared.next, 1))
                guard index < total else { break }
                let (slab, type) = shared.work[index]
                let slabBase = pool.base + geometry.slabOffset(slab)
                // Fault the slab's pages in with one call rather than one fault per page.
                _ = madvise(slabBase, geometry.slabSize, Relocator.populateWrite)
                var scan = pmh_slab_scan(
                    objects: (slabBase + type.layout.objectsOffset).assumingMemoryBound(to: UInt8.self),
                    bitmap: UnsafePointer(slabBase.assumingMemoryBound(to: UInt64.self)),
                    count: UInt32(type.layout.count), stride: UInt32(type.layout.stride),
                    offsets: UnsafePointer(type.cOffsets),
                    noffsets: UInt32(type.description.pointerOffsets.count))
                pmh_relocate_slab(&shared.relocation, &scan, &stats)
                let finished = Atomic64.fetchAdd(shared.done, 1) + 1
                CrashPoints.reach("heap.relocate.slab")
                if worker == 0, let progress, Date().timeIntervalSince(lastReport) >= 0.1 {
                    lastReport = Date()
                    progress(
                        RelocationProgress(
                            slabsDone: Int(finished), slabsTotal: total, pointersMoved: stats.moved))
                }
            }
            pool.drain()
            shared.lock.lock()
            shared.stats.objects += stats.objects
            shared.stats.pointers += stats.pointers
            shared.stats.moved += stats.moved
            shared.stats.outside += stats.outside
            shared.lock.unlock()
        }

        let root = (pool.base + HeapFormat.rootPointerOffset).assumingMemoryBound(to: UInt64.self)
        let rootResult = pmh_relocate_word(&shared.relocation, root)
        if rootResult == 1 { shared.stats.moved += 1 }
        if rootResult == -1 { shared.stats.outside += 1 }
        pool.drain()
        pool.syncAll()
        let stats = RelocationStats(
            objects: shared.stats.objects, pointers: shared.stats.pointers, moved: shared.stats.moved,
            outside: shared.stats.outside, bytesScanned: UInt64(total * geometry.slabSize),
            seconds: Date().timeIntervalSince(started), threads: workers)
        progress?(RelocationProgress(slabsDone: total, slabsTotal: total, pointersMoved: stats.moved))
        return stats
    }
}
