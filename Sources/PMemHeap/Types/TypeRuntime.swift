import Foundation

/// A registered type while the heap is open: its stored description, slab
/// layout, pointer offsets for the C relocation loop, and the slabs of this
/// type that may have free slots.
final class TypeRuntime: @unchecked Sendable {
    let id: UInt32
    let description: TypeDescription
    let layout: SlabLayout
    /// Pointer offsets as the C loop wants them; lives as long as the heap.
    let cOffsets: UnsafeMutablePointer<UInt32>

    /// Guards `partial` and `discoveryCursor`.
    let lock = NSLock()
    /// Slabs of this type, not owned by any thread, that had a slot freed.
    var partial: [Int] = []
    /// Next slab index to look at when searching for unclaimed slabs of this type.
    var discoveryCursor = 0

    init(id: UInt32, description: TypeDescription, layout: SlabLayout) {
        self.id = id
        self.description = description
        self.layout = layout
        cOffsets = .allocate(capacity: max(description.pointerOffsets.count, 1))
        for (i, offset) in description.pointerOffsets.enumerated() { cOffsets[i] = UInt32(offset) }
    }

    deinit { cOffsets.deallocate() }
}

/// A registered type, typed for the program: what `allocate` takes.
public struct TypeHandle<T>: Sendable, Equatable {
    /// The id in the pool's type table.
    public let id: UInt32
}
