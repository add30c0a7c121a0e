import Foundation
@_spi(Primitives) import PMemKit

/// Allocation and free in a reachability pool (`AllocationRecovery.reachability`):
/// nothing is logged or fenced. The slab bitmaps are kept in place with plain
/// atomic stores and flushed only at a clean close; after a crash, the open
/// traces from the root and rebuilds them (`Tracer`).
extension PersistentHeap {
    /// Whether `allocate` and `free` outside a transaction persist nothing:
    /// a reachability pool, unless something must see every change as a
    /// redo record (a replicator's observers: the replicas rebuild the pool
    /// from records) or the slabs are read-only between transactions.
    @inline(__always) var allocatesUnlogged: Bool {
        recovery == .reachability && !hasObservers && !hasFenceObservers && pageGuard == nil
    }

    /// Takes a slot from this thread's cache, marks it in the slab's bitmap in
    /// place, and zeroes the object; its lines are written back under this
    /// thread's next commit fence, before any record of that commit can link
    /// it (`UnflushedObjects`), or never if it is freed first.
    func allocateUnlogged(typeID: UInt32, size: Int) throws -> UnsafeMutableRawPointer {
        let context = try self.context()
        guard typeID > 0, Int(typeID) < context.cacheCount else { throw Transaction.unregistered(typeID) }
        let cache = context.caches + Int(typeID)
        let (_, slot) = try takeSlot(typeID: typeID, cache: cache, context: context)
        let raw = cache.pointee.objects! + slot * cache.pointee.stride
        _ = Atomic64.fetchOr(cache.pointee.bitmap! + slot / 64, UInt64(1) << UInt64(slot % 64))
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        context.unflushed.add(raw, size, pool: pool)
        return raw
    }

    /// Clears the object's bit in place and gives the slot back: at once when no
    /// committed record newer than the checkpoint exists (none could be replayed
    /// over the slot's next object), else after the checkpoint passes them.
    func freeUnlogged(_ address: UnsafeMutableRawPointer) throws {
        guard let (slab, slot) = allocator.locateSlot(address) else {
            throw PMemError(
                .invalidArgument, operation: "free",
                detail: "\(address) is not the start of an object in this heap")
        }
        let word = allocator.persistentBitmap(slab) + slot / 64
        let bit = UInt64(1) << UInt64(slot % 64)
        guard Atomic64.fetchAnd(word, ~bit) & bit != 0 else {
            throw PMemError(
                .invalidArgument, operation: "free", detail: "\(address) is not allocated (double free?)")
        }
        let context = try self.context()
        context.unflushed.forget(address)
        let newest = log.lastSequence
        if newest <= log.checkpointValue {
            allocator.release(slab: slab, slot: slot)
            return
        }
        context.quarantine.add(slab: slab, slot: slot, seq: newest)
        if context.quarantine.count > Quarantine.limit { log.advanceCheckpoint(through: newest) }
        context.quarantine.release(upTo: log.checkpointValue, to: allocator)
    }

    /// Makes an object's bytes durable now (flush and fence): bytes written
    /// into it outside a transaction, before a transaction links it (on any
    /// thread: this thread's commits write back the zeroes of objects it
    /// allocated, not the bytes written into them since).
    public func persist<T>(_ object: PersistentPointer<T>) {
        guard let raw = object.rawAddress else { return }
        pool.persist(raw, MemoryLayout<T>.size)
    }

    /// Writes back this thread's unflushed new objects before its commit's fence.
    @inline(__always) func flushUnflushedObjects(_ context: ThreadContext) {
        if context.unflushed.count > 0 { context.unflushed.flush(pool) }
    }

    /// Writes back every typed slab's bitmap and fences (close of a reachability pool).
    func persistBitmaps() {
        let geometry = self.geometry
        for slab in 0..<geometry.slabCount {
            guard let layout = allocator.layouts[Int(allocator.slabTypes[slab])] else { continue }
            pool.flush(allocator.persistentBitmap(slab), layout.bitmapWords * 8)
        }
        pool.drain()
    }
}

// MARK: Measuring the open-time walks (pmem-bench)

extension PersistentHeap {
    /// The stored slab directory and type runtimes as the walks take them.
    private func walkInputs() -> (slabTypes: [UInt32], continued: [Bool], types: [TypeRuntime]) {
        let slabTypes = (0..<geometry.slabCount).map { UInt32(truncatingIfNeeded: allocator.slabTypes[$0]) }
        let continued = (0..<geometry.slabCount).map { allocator.isContinuation($0) }
        let types = (1...max(geometry.typeCapacity, 1)).compactMap { allocator.types[$0] }
        return (slabTypes, continued, types)
    }

    /// Runs the trace an open after a crash runs, into scratch marks: nothing
    /// in the pool changes (its pointers are all for this base). No thread may
    /// change the heap meanwhile. For benchmarks.
    package func measureTrace(threads: Int) throws -> TraceStats {
        let (slabTypes, continued, types) = walkInputs()
        return try Tracer.run(
            pool: pool, geometry: geometry, slabTypes: slabTypes, continued: continued, types: types,
            from: [],
            threads: threads
        ).0
    }

    /// Runs the slab scan a relocation makes, moving nothing (every pointer is
    /// for this base already): the other open-time walk. For benchmarks.
    package func measureRelocationScan(threads: Int) -> RelocationStats {
        let (slabTypes, _, types) = walkInputs()
        return Relocator.run(
            pool: pool, geometry: geometry, slabTypes: slabTypes, types: types, from: [], threads: threads,
            progress: nil)
    }
}
