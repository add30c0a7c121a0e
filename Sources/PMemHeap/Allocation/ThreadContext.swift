import Foundation

/// What one thread keeps per heap: its slab caches (one per type) and the
/// lane it prefers. Found through a pthread key, so allocation needs no lock.
final class ThreadContext: @unchecked Sendable {
    /// One cache per type id (index 0 unused).
    let caches: UnsafeMutablePointer<SlabCache>
    let cacheCount: Int
    /// The lane this thread tries first, so its records stay in one lane.
    let laneHint: Int
    /// Set while the thread is inside `transaction`, to refuse nesting.
    @exclusivity(unchecked) var inTransaction = false
    /// The heap, for the thread-exit destructor. Not retained, and not weak
    /// (a weak reference would slow every retain of the heap): the heap
    /// deletes the pthread key when it closes, so no destructor outlives it.
    unowned(unsafe) var owner: PersistentHeap?
    /// Slots this thread freed, waiting for the checkpoint to pass the
    /// freeing transaction before they may be reused (see `Quarantine`).
    @exclusivity(unchecked) var quarantine = Quarantine()
    /// Objects this thread allocated outside a transaction in a reachability
    /// pool whose zeroed lines are not written back yet (see `UnflushedObjects`).
    @exclusivity(unchecked) var unflushed = UnflushedObjects()

    init(typeCapacity: Int, laneHint: Int) {
        cacheCount = typeCapacity + 1
        caches = .allocate(capacity: cacheCount)
        caches.initialize(repeating: SlabCache(), count: cacheCount)
        self.laneHint = laneHint
    }

    deinit {
        caches.deallocate()
        unflushed.deallocate()
    }

    /// Returns every cached reservation, quarantined slot and owned slab to
    /// the allocator (the caller has moved the checkpoint past every free).
    func drain(into allocator: SlabAllocator) {
        quarantine.releaseAll(to: allocator)
        for id in 1..<cacheCount where caches[id].slab >= 0 {
            if let type = allocator.types[id] { allocator.drain(caches + id, type: type) }
        }
    }
}

/// Freed slots that may not be reused yet.
///
/// A new object's initial value is written straight into its slot, not
/// logged. If the slot had been freed by a transaction that recovery could
/// still replay, an older record writing into the slot's previous object
/// would be replayed over the new one. So a freed slot waits here until the
/// persistent checkpoint has passed its freeing transaction: no record that
/// recovery replays can then precede the new object.
struct Quarantine {
    private var slots: [(slab: Int, slot: Int, seq: UInt64)] = []
    private var head = 0
    /// Above this many waiting slots, the owner advances the checkpoint.
    static let limit = 256

    var count: Int { slots.count - head }
    var newest: UInt64 { slots.last?.seq ?? 0 }

    mutating func add(slab: Int, slot: Int, seq: UInt64) {
        slots.append((slab, slot, seq))
    }

    /// Releases the slots freed at or before `checkpoint`.
    mutating func release(upTo checkpoint: UInt64, to allocator: SlabAllocator) {
        while head < slots.count && slots[head].seq <= checkpoint {
            allocator.release(slab: slots[head].slab, slot: slots[head].slot)
            head += 1
        }
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    mutating func releaseAll(to allocator: SlabAllocator) {
        release(upTo: .max, to: allocator)
    }
}

/// New objects (reachability pools) whose zeroes are still only in the cache.
///
/// Writing an object's lines back as it is allocated costs more than the
/// allocation: the locked instruction that marks the slot waits for the
/// write-back. Only an object a committed transaction links needs its bytes
/// durable, so they are written back in one batch under the allocating
/// thread's next commit fence (or by `PersistentHeap.persist`), and an object
/// freed before that — the common allocate-then-free of scratch objects — is
/// never written back at all.
struct UnflushedObjects {
    /// Entries before a batch is written back without waiting for a commit.
    static let capacity = 64
    private var objects: UnsafeMutablePointer<UnsafeMutableRawPointer>?
    private var lengths: UnsafeMutablePointer<Int>?
    private(set) var count = 0

    /// Notes `object` (`length` bytes); writes the batch back first when full.
    @inline(__always) mutating func add(_ object: UnsafeMutableRawPointer, _ length: Int, pool: PoolMemory) {
        if count == Self.capacity || objects == nil { makeRoom(pool) }
        objects![count] = object
        lengths![count] = length
        count += 1
    }

    /// Forgets `object` when it is the newest entry (freed right after its allocation).
    @inline(__always) mutating func forget(_ object: UnsafeMutableRawPointer) {
        if count > 0 && objects![count - 1] == object { count -= 1 }
    }

    /// Writes every entry's lines back (the caller fences).
    mutating func flush(_ pool: PoolMemory) {
        for i in 0..<count { pool.flush(objects![i], lengths![i]) }
        count = 0
    }

    private mutating func makeRoom(_ pool: PoolMemory) {
        if objects == nil {
            objects = .allocate(capacity: Self.capacity)
            lengths = .allocate(capacity: Self.capacity)
        }
        flush(pool)
    }

    func deallocate() {
        objects?.deallocate()
        lengths?.deallocate()
    }
}
