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

    init(typeCapacity: Int, laneHint: Int) {
        cacheCount = typeCapacity + 1
        caches = .allocate(capacity: cacheCount)
        caches.initialize(repeating: SlabCache(), count: cacheCount)
        self.laneHint = laneHint
    }

    deinit { caches.deallocate() }

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
