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
    var inTransaction = false
    /// The heap, for the thread-exit destructor.
    weak var owner: PersistentHeap?

    init(typeCapacity: Int, laneHint: Int) {
        cacheCount = typeCapacity + 1
        caches = .allocate(capacity: cacheCount)
        caches.initialize(repeating: SlabCache(), count: cacheCount)
        self.laneHint = laneHint
    }

    deinit { caches.deallocate() }

    /// Returns every cached reservation and owned slab to the allocator.
    func drain(into allocator: SlabAllocator) {
        for id in 1..<cacheCount where caches[id].slab >= 0 {
            if let type = allocator.types[id] { allocator.drain(caches + id, type: type) }
        }
    }
}
