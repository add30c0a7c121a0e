internal import CPMemHeap
import Dispatch
import Foundation
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// What a reachability trace found and did (`OpenReport.trace`).
public struct TraceStats: Sendable, Equatable, Encodable {
    /// Objects reachable from the root.
    public var objects: UInt64
    /// Their bytes (slot strides added up): the live data.
    public var bytes: UInt64
    /// Non-null pointer fields followed.
    public var pointers: UInt64
    /// Pointer fields moved to the pool's new base on the way (a relocation in the same walk).
    public var moved: UInt64
    /// Pointer fields outside every range the pool was ever at (not followed).
    public var outside: UInt64
    /// Pointer fields into metadata, a free slab or a slab's bitmap (not followed).
    public var invalid: UInt64
    /// Objects the stored bitmaps marked allocated that nothing reaches: reclaimed.
    public var reclaimed: UInt64
    /// Slabs left with no live object, returned to the free slabs.
    public var slabsFreed: Int
    /// Wall time of the walk (marking only, not the bitmap rewrite).
    public var seconds: Double
    /// Threads that traced.
    public var threads: Int

    /// Live bytes traced per second per thread.
    public var bytesPerSecondPerThread: Double {
        seconds > 0 ? Double(bytes) / seconds / Double(max(threads, 1)) : 0
    }

    enum CodingKeys: String, CodingKey {
        case objects, bytes, pointers, moved, outside, invalid, reclaimed, seconds, threads
        case slabsFreed = "slabs_freed"
    }
}

/// The reachability trace of a pool created with `HeapCreateOptions.recovery`
/// `.reachability`: marks every object reachable from the root through the
/// stored pointer maps, on several threads (the loop is `pmh_trace_work` in
/// CPMemHeap), and moves each pointer field it reads to the pool's current
/// base when the pool moved — relocation and trace are one walk, since after
/// a crash the bitmaps a relocation would walk are not to be trusted.
///
/// Then `rebuildBitmaps` makes the marks the slabs' allocation bitmaps and
/// returns slabs with no live object to the free slabs. A crash anywhere
/// leaves the pool not cleanly closed: the next open traces again, and a
/// pointer already moved is recognised (see `Relocator`).
enum Tracer {
    /// The marks of one trace: a DRAM bitmap per typed slab.
    final class Marks {
        let words: UnsafeMutablePointer<UInt64>
        let perSlab: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>?>
        let slabCount: Int

        init(slabTypes: [UInt32], layouts: [UInt32: SlabLayout]) {
            slabCount = slabTypes.count
            let total = slabTypes.reduce(0) { $0 + ($1 == 0 ? 0 : layouts[$1]!.bitmapWords) }
            words = .allocate(capacity: max(total, 1))
            words.initialize(repeating: 0, count: max(total, 1))
            perSlab = .allocate(capacity: max(slabCount, 1))
            var next = 0
            for (slab, id) in slabTypes.enumerated() {
                if id == 0 {
                    perSlab[slab] = nil
                } else {
                    perSlab[slab] = words + next
                    next += layouts[id]!.bitmapWords
                }
            }
        }

        deinit {
            words.deallocate()
            perSlab.deallocate()
        }
    }

    /// Traces `pool` (now at `pool.base`) from its root; pointers written for a
    /// base in `from` are moved to the current one as they are read.
    ///
    /// Throws `corrupt`, before anything but moved pointers is written, when
    /// the root pointer leads to no object: tracing from it would reclaim
    /// every object.
    static func run(
        pool: PoolMemory, geometry: PoolGeometry, slabTypes: [UInt32], continued: [Bool],
        types: [TypeRuntime],
        from: [UInt64], threads: Int
    ) throws -> (TraceStats, Marks) {
        var layouts: [UInt32: SlabLayout] = [:]
        for type in types { layouts[type.id] = type.layout }
        let marks = Marks(slabTypes: slabTypes, layouts: layouts)
        let maxID = Int(types.map(\.id).max() ?? 0)
        let cTypes = UnsafeMutablePointer<pmh_trace_type>.allocate(capacity: maxID + 1)
        cTypes.initialize(repeating: pmh_trace_type(), count: maxID + 1)
        defer { cTypes.deallocate() }
        for type in types {
            cTypes[Int(type.id)] = pmh_trace_type(
                objects_offset: UInt32(type.layout.objectsOffset), stride: UInt32(type.layout.stride),
                count: UInt32(type.layout.count), noffsets: UInt32(type.description.pointerOffsets.count),
                offsets: UnsafePointer(type.cOffsets),
                stride_inverse: pmh_trace_inverse(UInt32(type.layout.stride)))
        }
        let slabTypeWords = UnsafeMutablePointer<UInt32>.allocate(capacity: max(slabTypes.count, 1))
        defer { slabTypeWords.deallocate() }
        for (slab, id) in slabTypes.enumerated() {
            slabTypeWords[slab] = continued[slab] ? UInt32(PMH_TRACE_CONTINUATION) : id
        }

        let trace = UnsafeMutablePointer<pmh_trace>.allocate(capacity: 1)
        trace.initialize(to: pmh_trace())
        defer { trace.deallocate() }
        trace.pointee.base = pool.base.assumingMemoryBound(to: UInt8.self)
        trace.pointee.slabs_offset = UInt64(geometry.slabsOffset)
        trace.pointee.slab_shift = UInt32(geometry.slabSize.trailingZeroBitCount)
        trace.pointee.slab_count = UInt32(geometry.slabCount)
        trace.pointee.slab_types = UnsafePointer(slabTypeWords)
        trace.pointee.types = UnsafePointer(cTypes)
        trace.pointee.marks = UnsafePointer(marks.perSlab)
        trace.pointee.reloc.nfrom = UInt32(min(from.count, Int(PMH_MAX_BASES)))
        withUnsafeMutableBytes(of: &trace.pointee.reloc.from) { raw in
            for (i, base) in from.prefix(Int(PMH_MAX_BASES)).enumerated() {
                raw.storeBytes(of: base, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        trace.pointee.reloc.span = UInt64(geometry.poolSize)
        trace.pointee.reloc.to = pool.baseAddress
        trace.pointee.reloc.flush = pool.cFlushFunction

        let workers = max(1, min(threads, max(1, geometry.slabCount)))
        let initError = pmh_trace_init(trace, UInt32(workers))
        guard initError == 0 else {
            throw PMemError.system("heap trace", errno: -initError, detail: "cannot set up the trace")
        }
        defer { pmh_trace_destroy(trace) }
        let started = Date()
        var rootStats = pmh_trace_stats()
        let root = (pool.base + HeapFormat.rootPointerOffset).assumingMemoryBound(to: UInt64.self)
        guard pmh_trace_root(trace, root, &rootStats) >= 0 else {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail:
                    "the root pointer 0x\(String(root.pointee, radix: 16)) leads to no object: a trace from it "
                    + "would reclaim every object; the allocation state was not rebuilt (`pmemctl heap check`)"
            )
        }
        CrashPoints.reach("heap.trace.root")
        // One stats block and result per worker, added up once they are all done.
        let perWorker = UnsafeMutablePointer<pmh_trace_stats>.allocate(capacity: workers)
        perWorker.initialize(repeating: pmh_trace_stats(), count: workers)
        defer { perWorker.deallocate() }
        let results = UnsafeMutablePointer<Int32>.allocate(capacity: workers)
        results.initialize(repeating: 0, count: workers)
        defer { results.deallocate() }
        let shared = UnsafeSendable((trace, perWorker, results))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let (trace, perWorker, results) = shared.value
            results[worker] = pmh_trace_work(trace, perWorker + worker)
            pool.drain()
        }
        var total = rootStats
        for worker in 0..<workers {
            let stats = perWorker[worker]
            total.objects += stats.objects
            total.bytes += stats.bytes
            total.pointers += stats.pointers
            total.moved += stats.moved
            total.outside += stats.outside
            total.invalid += stats.invalid
        }
        guard (0..<workers).allSatisfy({ results[$0] == 0 }) else {
            throw PMemError.system(
                "heap trace", errno: ENOMEM, detail: "out of memory for the trace's work lists")
        }
        let seconds = Date().timeIntervalSince(started)
        CrashPoints.reach("heap.trace.marked")
        return (
            TraceStats(
                objects: total.objects, bytes: total.bytes, pointers: total.pointers, moved: total.moved,
                outside: total.outside, invalid: total.invalid, reclaimed: 0, slabsFreed: 0, seconds: seconds,
                threads: workers),
            marks
        )
    }

    /// Traces, then rebuilds the bitmaps from the marks (`run`, `rebuildBitmaps`):
    /// what an open after a crash does, and the check in its private view.
    ///
    /// Pointers that lead to no object (damage, or a program's dangling
    /// pointer) could mean live objects the trace did not reach: unless
    /// `acceptUnresolved`, that throws `corrupt` before the bitmaps change.
    static func recover(
        pool: PoolMemory, geometry: PoolGeometry, slabTypes: inout [UInt32], continued: [Bool],
        types: [TypeRuntime], from: [UInt64], threads: Int, acceptUnresolved: Bool
    ) throws -> TraceStats {
        var (stats, marks) = try run(
            pool: pool, geometry: geometry, slabTypes: slabTypes, continued: continued, types: types,
            from: from,
            threads: threads)
        let unresolved = stats.invalid + stats.outside
        guard unresolved == 0 || acceptUnresolved else {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail:
                    "the trace found \(unresolved) pointer\(unresolved == 1 ? "" : "s") that lead to no object "
                    + "(\(stats.outside) outside the pool, \(stats.invalid) into metadata or free slabs): objects only "
                    + "they reached would be reclaimed; the allocation state was not rebuilt. `pmemctl heap check` "
                    + "names them; HeapOpenOptions.unresolvedPointers = .reclaimUnreached accepts the loss")
        }
        var layouts: [UInt32: SlabLayout] = [:]
        for type in types { layouts[type.id] = type.layout }
        (stats.reclaimed, stats.slabsFreed) = rebuildBitmaps(
            pool: pool, geometry: geometry, slabTypes: &slabTypes, layouts: layouts, marks: marks)
        return stats
    }

    /// Makes the marks the slabs' stored bitmaps and frees slabs with no live
    /// object (directory word 0, one failure-atomic store each); returns the
    /// objects the old bitmaps held that the trace did not reach, and the slabs
    /// freed. Every write is persisted before this returns.
    static func rebuildBitmaps(
        pool: PoolMemory, geometry: PoolGeometry, slabTypes: inout [UInt32], layouts: [UInt32: SlabLayout],
        marks: Marks
    ) -> (reclaimed: UInt64, slabsFreed: Int) {
        var reclaimed: UInt64 = 0
        var freed = 0
        for slab in 0..<slabTypes.count where slabTypes[slab] != 0 {
            let layout = layouts[slabTypes[slab]]!
            let mark = marks.perSlab[slab]!
            let stored = (pool.base + geometry.slabOffset(slab)).assumingMemoryBound(to: UInt64.self)
            var live = false
            for w in 0..<layout.bitmapWords {
                reclaimed += UInt64((stored[w] & ~mark[w]).nonzeroBitCount)
                if mark[w] != 0 { live = true }
                if stored[w] != mark[w] { stored[w] = mark[w] }
            }
            pool.flush(stored, layout.bitmapWords * 8)
            if !live {
                SlabDirectory.free(slab, run: layout.slabsPerObject, pool: pool, geometry: geometry)
                slabTypes[slab] = 0
                freed += 1
            }
            CrashPoints.reach("heap.trace.slab")
        }
        pool.drain()
        pool.syncAll()
        return (reclaimed, freed)
    }
}

/// A value handed to worker closures that the caller keeps alive and guards itself.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
