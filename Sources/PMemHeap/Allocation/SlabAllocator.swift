import Foundation
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// Volatile allocation state over the persistent slabs.
///
/// Each slab's persistent bitmap says what is allocated. In DRAM, a slab in
/// use gets a second bitmap of slots allocated *or reserved*: threads
/// reserve whole words of free slots at once (their per-thread cache) with
/// one compare-and-swap, and allocate from the cached mask with no atomics.
/// The persistent bit is only set when the allocating transaction commits,
/// so a crash before commit loses nothing and leaks nothing.
///
/// Every typed slab's DRAM bitmap is built when the heap opens (`loadAll`),
/// before any free: a slot freed later only becomes allocatable through
/// `release`, after its quarantine (see `Quarantine`).
///
/// Slab states: unclaimed (not yet taken by a thread since open, or free),
/// owned (a thread allocates from it), full (no free slot known, owned by
/// nobody), partial (queued on its type's list after a free), returning
/// (every slot free and owned by nobody: going back to the free slabs).
///
/// A slab whose last object is released while no thread owns it goes back to
/// the free slabs, for any type (`returnIfEmpty`). Release comes after the
/// checkpoint passed every free into it, so no record recovery could replay
/// names a slot of it, and its bitmap in place is all zeros and durable.
final class SlabAllocator: @unchecked Sendable {
    enum SlabState: UInt64 {
        case unclaimed = 0
        case owned = 1
        case full = 2
        case partial = 3
        case returning = 4
        /// A slab that continues a large object begun in an earlier slab.
        case continuation = 5
    }

    let pool: PoolMemory
    let geometry: PoolGeometry
    /// Type id of each slab (0 = free). Written under `slabLock`, read anywhere.
    let slabTypes: UnsafeMutablePointer<UInt64>
    /// `SlabState` of each slab.
    let states: UnsafeMutablePointer<UInt64>
    /// Address of each slab's DRAM bitmap, or 0 before it is loaded.
    let volatileBitmaps: UnsafeMutablePointer<UInt64>
    /// Registered types by id; slot 0 unused. Written once per id under `slabLock`.
    let types: UnsafeMutablePointer<TypeRuntime?>
    /// The slab layout of each type id, beside `types` so hot paths need no reference counting.
    let layouts: UnsafeMutablePointer<SlabLayout?>
    /// log2 of the slab size.
    private let slabShift: Int
    /// Guards free-slab assignment and type registration.
    let slabLock = NSLock()
    private var freeCursor = 0
    /// Slabs given back to the free slabs since open (under `slabLock`).
    private(set) var returnedSlabs = 0

    init(pool: PoolMemory, geometry: PoolGeometry, slabTypes initial: [UInt32], continued: [Bool]) {
        self.pool = pool
        self.geometry = geometry
        let n = geometry.slabCount
        slabTypes = .allocate(capacity: n)
        states = .allocate(capacity: n)
        volatileBitmaps = .allocate(capacity: n)
        for i in 0..<n {
            slabTypes[i] = UInt64(initial[i])
            states[i] = (continued[i] ? SlabState.continuation : .unclaimed).rawValue
            volatileBitmaps[i] = 0
        }
        types = .allocate(capacity: geometry.typeCapacity + 1)
        types.initialize(repeating: nil, count: geometry.typeCapacity + 1)
        layouts = .allocate(capacity: geometry.typeCapacity + 1)
        layouts.initialize(repeating: nil, count: geometry.typeCapacity + 1)
        slabShift = geometry.slabSize.trailingZeroBitCount
    }

    deinit {
        for i in 0..<geometry.slabCount where volatileBitmaps[i] != 0 {
            UnsafeMutablePointer<UInt64>(bitPattern: UInt(volatileBitmaps[i]))?.deallocate()
        }
        slabTypes.deallocate()
        states.deallocate()
        volatileBitmaps.deallocate()
        types.deinitialize(count: geometry.typeCapacity + 1)
        types.deallocate()
        layouts.deallocate()
    }

    // MARK: Addresses

    /// The persistent bitmap of slab `slab`.
    @inline(__always) func persistentBitmap(_ slab: Int) -> UnsafeMutablePointer<UInt64> {
        (pool.base + geometry.slabOffset(slab)).assumingMemoryBound(to: UInt64.self)
    }

    /// Address of `slot` in `slab`.
    @inline(__always) func address(slab: Int, slot: Int, layout: SlabLayout) -> UnsafeMutableRawPointer {
        pool.base + geometry.slabOffset(slab) + layout.objectsOffset + slot * layout.stride
    }

    /// The slab, slot and type of an object's first byte, or `nil` when
    /// `address` is not the start of a slot in a typed slab.
    func locate(_ address: UnsafeRawPointer) -> (slab: Int, slot: Int, type: TypeRuntime)? {
        let offset = address - UnsafeRawPointer(pool.base) - geometry.slabsOffset
        guard offset >= 0 else { return nil }
        let slab = offset / geometry.slabSize
        guard slab < geometry.slabCount, let type = types[Int(Atomic64.loadAcquire(slabTypes + slab))] else {
            return nil
        }
        let inside = offset - slab * geometry.slabSize - type.layout.objectsOffset
        guard inside >= 0, inside % type.layout.stride == 0, inside / type.layout.stride < type.layout.count
        else {
            return nil
        }
        return (slab, inside / type.layout.stride, type)
    }

    /// The slab and slot of an object's first byte, or `nil` when `address`
    /// is not the start of a slot in a typed slab (no reference counting).
    @inline(__always) func locateSlot(_ address: UnsafeRawPointer) -> (slab: Int, slot: Int)? {
        let offset = address - UnsafeRawPointer(pool.base) - geometry.slabsOffset
        guard offset >= 0 else { return nil }
        let slab = offset >> slabShift
        guard slab < geometry.slabCount, let layout = layouts[Int(Atomic64.loadAcquire(slabTypes + slab))]
        else {
            return nil
        }
        let inside = offset - (slab << slabShift) - layout.objectsOffset
        let (slot, rest) = inside.quotientAndRemainder(dividingBy: layout.stride)
        guard inside >= 0, rest == 0, slot < layout.count else { return nil }
        return (slab, slot)
    }

    /// Whether the persistent bitmap marks `slot` of `slab` allocated.
    @inline(__always) func isAllocated(slab: Int, slot: Int) -> Bool {
        Atomic64.loadAcquire(persistentBitmap(slab) + slot / 64) & (UInt64(1) << UInt64(slot % 64)) != 0
    }

    // MARK: Reservation (the per-thread cache's refill)

    /// Takes a reserved slot from `cache` (one bit of its mask, no atomics), or
    /// refills the cache from the slabs of type `typeID` when it is empty.
    @inline(__always) func take(typeID: UInt32, cache: UnsafeMutablePointer<SlabCache>) throws -> (
        slab: Int, slot: Int
    ) {
        if cache.pointee.mask != 0 {
            let bit = cache.pointee.mask.trailingZeroBitCount
            cache.pointee.mask &= cache.pointee.mask - 1
            return (cache.pointee.slab, cache.pointee.word * 64 + bit)
        }
        guard let type = types[Int(typeID)] else { throw Transaction.unregistered(typeID) }
        if type.layout.isLarge { return try reserveLarge(type, cache: cache) }
        return try reserve(type, cache: cache)
    }

    /// Whether `slab` continues a large object begun in an earlier slab.
    @inline(__always) func isContinuation(_ slab: Int) -> Bool {
        Atomic64.loadAcquire(states + slab) == SlabState.continuation.rawValue
    }

    /// The slab a large object covering `slab` begins in (`slab` itself when it is no continuation).
    func firstSlab(of slab: Int) -> Int {
        var first = slab
        while first > 0 && isContinuation(first) { first -= 1 }
        return first
    }

    /// A run of free slabs for one object larger than a slab, reserved: its
    /// first slab's bitmap word cleared, the continuation words written, then
    /// the first slab's word (each step persisted), so a crash leaves either
    /// free slabs or a whole run with its object not allocated (returned at
    /// the next close). Points `cache` at the object; its mask stays empty, so
    /// every large allocation comes here.
    private func reserveLarge(_ type: TypeRuntime, cache: UnsafeMutablePointer<SlabCache>) throws -> (
        slab: Int, slot: Int
    ) {
        let run = type.layout.slabsPerObject
        slabLock.lock()
        defer { slabLock.unlock() }
        var first = -1
        var length = 0
        for slab in freeCursor..<geometry.slabCount {
            let free =
                slabTypes[slab] == 0 && Atomic64.loadAcquire(states + slab) == SlabState.unclaimed.rawValue
            length = free ? length + 1 : 0
            if length == run {
                first = slab - run + 1
                break
            }
        }
        guard first >= 0 else {
            throw PMemError(
                .system, operation: "allocate", errno: ENOSPC,
                detail: "the heap has no \(run) free slabs in a row for a '\(type.description.name)' object "
                    + "(\(type.description.size) bytes; \(geometry.slabCount) slabs of \(geometry.slabSize) bytes)"
            )
        }
        let directory = (pool.base + geometry.slabDirectoryOffset).assumingMemoryBound(to: UInt64.self)
        persistentBitmap(first).pointee = 0
        pool.flush(persistentBitmap(first), 8)
        for slab in (first + 1)..<(first + run) {
            directory[slab] = SlabDirectory.encode(
                typeID: SlabDirectory.continuation, index: slab, salt: pool.salt)
            Atomic64.storeSequentiallyConsistent(states + slab, SlabState.continuation.rawValue)
        }
        pool.persist(directory + first + 1, (run - 1) * 8)
        CrashPoints.reach("heap.large.continued")
        directory[first] = SlabDirectory.encode(typeID: type.id, index: first, salt: pool.salt)
        pool.persist(directory + first, 8)
        CrashPoints.reach("heap.large.assigned")
        let bitmap = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        bitmap.pointee = type.layout.invalidBits(word: 0) | 1  // slot 0, reserved for the caller
        Atomic64.storeSequentiallyConsistent(volatileBitmaps + first, UInt64(UInt(bitPattern: bitmap)))
        // Owned by nobody: its free returns the run.
        Atomic64.storeSequentiallyConsistent(states + first, SlabState.full.rawValue)
        Atomic64.storeRelease(slabTypes + first, UInt64(type.id))
        cache.pointee.objects = pool.base + geometry.slabOffset(first) + type.layout.objectsOffset
        cache.pointee.bitmap = persistentBitmap(first)
        cache.pointee.stride = type.layout.stride
        return (first, 0)
    }

    /// Reserves a slot of `type` from `cache`, refilling it from slabs when empty.
    @inline(__always) func reserve(_ type: TypeRuntime, cache: UnsafeMutablePointer<SlabCache>) throws -> (
        slab: Int, slot: Int
    ) {
        if cache.pointee.mask == 0 { try refill(type, cache: cache) }
        let bit = cache.pointee.mask.trailingZeroBitCount
        cache.pointee.mask &= cache.pointee.mask - 1
        return (cache.pointee.slab, cache.pointee.word * 64 + bit)
    }

    private func refill(_ type: TypeRuntime, cache: UnsafeMutablePointer<SlabCache>) throws {
        while true {
            if cache.pointee.slab >= 0 {
                if claimWord(type, cache: cache) { return }
                if !disown(cache.pointee.slab, type: type, keepIfFree: true) {
                    continue  // a slot was freed meanwhile and the slab is still ours
                }
                cache.pointee.slab = -1
            }
            let slab = try acquireSlab(type)
            cache.pointee.slab = slab
            cache.pointee.word = 0
            cache.pointee.objects = pool.base + geometry.slabOffset(slab) + type.layout.objectsOffset
            cache.pointee.stride = type.layout.stride
            cache.pointee.bitmap = persistentBitmap(slab)
        }
    }

    /// Claims every free slot of one bitmap word of the cache's slab.
    private func claimWord(_ type: TypeRuntime, cache: UnsafeMutablePointer<SlabCache>) -> Bool {
        let words = type.layout.bitmapWords
        let bitmap = volatileBitmap(cache.pointee.slab)
        for k in 0..<words {
            let w = (cache.pointee.word + k) % words
            var old = Atomic64.loadAcquire(bitmap + w)
            while ~old != 0 {
                if Atomic64.compareExchange(bitmap + w, expected: old, desired: ~0) {
                    cache.pointee.word = w
                    cache.pointee.mask = ~old
                    return true
                }
                old = Atomic64.loadAcquire(bitmap + w)
            }
        }
        return false
    }

    /// Gives up ownership of a slab. With `keepIfFree`, returns `false` (and
    /// keeps it) when a free slot appeared after the last scan.
    @discardableResult
    func disown(_ slab: Int, type: TypeRuntime, keepIfFree: Bool = false) -> Bool {
        Atomic64.storeSequentiallyConsistent(states + slab, SlabState.full.rawValue)
        guard hasFreeSlot(slab, type: type) else { return true }
        if keepIfFree
            && Atomic64.compareExchange(
                states + slab, expected: SlabState.full.rawValue, desired: SlabState.owned.rawValue)
        {
            return false
        }
        if !keepIfFree && returnIfEmpty(slab, type: type) { return true }
        queueIfFull(slab, type: type)
        return true
    }

    /// Whether no slot of `slab` is allocated or reserved (DRAM bitmap).
    private func isEmpty(_ slab: Int, type: TypeRuntime) -> Bool {
        let bitmap = volatileBitmap(slab)
        return (0..<type.layout.bitmapWords).allSatisfy {
            Atomic64.loadAcquire(bitmap + $0) == type.layout.invalidBits(word: $0)
        }
    }

    /// Gives an empty slab nobody owns back to the free slabs: its directory
    /// word becomes 0 (one failure-atomic store, persisted), and any type may
    /// take it next. Returns whether it did.
    @discardableResult
    private func returnIfEmpty(_ slab: Int, type: TypeRuntime) -> Bool {
        guard isEmpty(slab, type: type) else { return false }
        // Only an owner reserves slots: once no one owns it (and no one can take it), it stays empty.
        guard
            [SlabState.full, .partial, .unclaimed].contains(where: {
                Atomic64.compareExchange(
                    states + slab, expected: $0.rawValue, desired: SlabState.returning.rawValue)
            })
        else { return false }
        guard isEmpty(slab, type: type) else {
            Atomic64.storeSequentiallyConsistent(states + slab, SlabState.full.rawValue)
            queueIfFull(slab, type: type)
            return false
        }
        slabLock.lock()
        defer { slabLock.unlock() }
        CrashPoints.reach("heap.slab.return")
        let run = type.layout.slabsPerObject
        SlabDirectory.free(slab, run: run, pool: pool, geometry: geometry)
        pool.drain()
        CrashPoints.reach("heap.slab.returned")
        for next in (slab + 1)..<(slab + run) {
            Atomic64.storeSequentiallyConsistent(states + next, SlabState.unclaimed.rawValue)
        }
        Atomic64.storeRelease(slabTypes + slab, 0)
        let bitmap = Atomic64.loadAcquire(volatileBitmaps + slab)
        Atomic64.storeSequentiallyConsistent(volatileBitmaps + slab, 0)
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(bitmap))?.deallocate()
        Atomic64.storeSequentiallyConsistent(states + slab, SlabState.unclaimed.rawValue)
        freeCursor = min(freeCursor, slab)
        returnedSlabs += 1
        return true
    }

    private func hasFreeSlot(_ slab: Int, type: TypeRuntime) -> Bool {
        let bitmap = volatileBitmap(slab)
        return (0..<type.layout.bitmapWords).contains { ~Atomic64.loadAcquire(bitmap + $0) != 0 }
    }

    private func queueIfFull(_ slab: Int, type: TypeRuntime) {
        guard
            Atomic64.compareExchange(
                states + slab, expected: SlabState.full.rawValue, desired: SlabState.partial.rawValue)
        else { return }
        type.lock.lock()
        type.partial.append(slab)
        type.lock.unlock()
    }

    @inline(__always) private func volatileBitmap(_ slab: Int) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer(bitPattern: UInt(Atomic64.loadAcquire(volatileBitmaps + slab)))!
    }

    /// A slab of `type` for a thread to own: a queued partial slab, a slab of
    /// this type no thread has taken since open, or a free slab assigned now.
    private func acquireSlab(_ type: TypeRuntime) throws -> Int {
        type.lock.lock()
        while let slab = type.partial.popLast() {
            if Atomic64.compareExchange(
                states + slab, expected: SlabState.partial.rawValue, desired: SlabState.owned.rawValue)
            {
                type.lock.unlock()
                return slab
            }
        }
        while type.discoveryCursor < geometry.slabCount {
            let slab = type.discoveryCursor
            type.discoveryCursor += 1
            if Atomic64.loadAcquire(slabTypes + slab) == UInt64(type.id),
                Atomic64.compareExchange(
                    states + slab, expected: SlabState.unclaimed.rawValue, desired: SlabState.owned.rawValue)
            {
                type.lock.unlock()
                return slab
            }
        }
        type.lock.unlock()
        return try assignFreeSlab(to: type)
    }

    /// Builds the DRAM bitmap of every typed slab from its persistent one;
    /// called once, after recovery and before any thread allocates or frees.
    func loadAll() {
        for slab in 0..<geometry.slabCount {
            guard let type = types[Int(slabTypes[slab])] else { continue }
            let words = type.layout.bitmapWords
            let bitmap = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
            let persistent = persistentBitmap(slab)
            for w in 0..<words { bitmap[w] = persistent[w] | type.layout.invalidBits(word: w) }
            volatileBitmaps[slab] = UInt64(UInt(bitPattern: bitmap))
        }
    }

    /// Assigns the next free slab to `type`: clears its bitmap, persists, then
    /// records the type in the directory with one failure-atomic store.
    private func assignFreeSlab(to type: TypeRuntime) throws -> Int {
        slabLock.lock()
        defer { slabLock.unlock() }
        while freeCursor < geometry.slabCount
            && (slabTypes[freeCursor] != 0
                || Atomic64.loadAcquire(states + freeCursor) != SlabState.unclaimed.rawValue)
        {
            freeCursor += 1
        }
        guard freeCursor < geometry.slabCount else {
            throw PMemError(
                .system, operation: "allocate", errno: ENOSPC,
                detail: "the heap is full: no free slab for type '\(type.description.name)' "
                    + "(\(geometry.slabCount) slabs of \(geometry.slabSize) bytes)")
        }
        let slab = freeCursor
        let persistent = persistentBitmap(slab)
        persistent.initialize(repeating: 0, count: type.layout.bitmapWords)
        pool.persist(persistent, type.layout.bitmapWords * 8)
        CrashPoints.reach("heap.alloc.bitmap-cleared")
        let entry = (pool.base + geometry.slabDirectoryOffset).assumingMemoryBound(to: UInt64.self) + slab
        entry.pointee = SlabDirectory.encode(typeID: type.id, index: slab, salt: pool.salt)
        pool.persist(entry, 8)
        let bitmap = UnsafeMutablePointer<UInt64>.allocate(capacity: type.layout.bitmapWords)
        for w in 0..<type.layout.bitmapWords { bitmap[w] = type.layout.invalidBits(word: w) }
        Atomic64.storeSequentiallyConsistent(volatileBitmaps + slab, UInt64(UInt(bitPattern: bitmap)))
        Atomic64.storeSequentiallyConsistent(states + slab, SlabState.owned.rawValue)
        Atomic64.storeRelease(slabTypes + slab, UInt64(type.id))
        return slab
    }

    // MARK: Release

    /// Makes a slot available again in DRAM: after its free committed, or
    /// when the transaction that reserved it aborted.
    func release(slab: Int, slot: Int) {
        let address = Atomic64.loadAcquire(volatileBitmaps + slab)
        guard address != 0, let type = types[Int(Atomic64.loadAcquire(slabTypes + slab))] else { return }
        let bitmap = UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!
        let word = slot / 64
        let before = Atomic64.fetchAnd(bitmap + word, ~(UInt64(1) << UInt64(slot % 64)))
        let state = Atomic64.loadSequentiallyConsistent(states + slab)
        // The slab's last object gone (checked whole only when this word emptied) and no owner: return it.
        if state != SlabState.owned.rawValue,
            before & ~(UInt64(1) << UInt64(slot % 64)) == type.layout.invalidBits(word: word),
            returnIfEmpty(slab, type: type)
        {
            return
        }
        if state == SlabState.full.rawValue {
            queueIfFull(slab, type: type)
        }
    }

    /// Returns every empty slab no thread owns to the free slabs (close, after
    /// the checkpoint passed every free and every cache was drained).
    func returnEmptySlabs() {
        for slab in 0..<geometry.slabCount {
            guard let type = types[Int(Atomic64.loadAcquire(slabTypes + slab))],
                Atomic64.loadAcquire(volatileBitmaps + slab) != 0,
                Atomic64.loadSequentiallyConsistent(states + slab) != SlabState.owned.rawValue
            else { continue }
            returnIfEmpty(slab, type: type)
        }
    }

    /// Returns a cache's unused reservations and its slab (thread exit, close).
    func drain(_ cache: UnsafeMutablePointer<SlabCache>, type: TypeRuntime) {
        guard cache.pointee.slab >= 0 else { return }
        let slab = cache.pointee.slab
        if cache.pointee.mask != 0 {
            _ = Atomic64.fetchAnd(volatileBitmap(slab) + cache.pointee.word, ~cache.pointee.mask)
        }
        disown(slab, type: type)
        cache.pointee = SlabCache()
    }
}

/// One thread's cache for one type: the slab it allocates from, a mask of
/// reserved free slots in one bitmap word, and where that slab's objects
/// and bitmap are (so the common allocation touches nothing shared).
struct SlabCache {
    var slab = -1
    var word = 0
    var mask: UInt64 = 0
    var objects: UnsafeMutableRawPointer?
    var stride = 0
    var bitmap: UnsafeMutablePointer<UInt64>?
}
