import PMemKit

/// How one type's objects are laid out in a slab: the allocation bitmap
/// first (one bit per slot, whole 8-byte words), then the objects, the
/// first aligned to a cache line (or the type's alignment if larger).
struct SlabLayout: Equatable {
    /// Object slots in the slab.
    let count: Int
    /// 8-byte words of the bitmap.
    let bitmapWords: Int
    /// Offset of the first object inside the slab.
    let objectsOffset: Int
    /// Bytes from one object to the next.
    let stride: Int
    /// Consecutive slabs one object takes: 1, or more for an object larger
    /// than a slab (a large object: the first slab's directory word names the
    /// type, the others are continuations, and its bitmap has one bit).
    let slabsPerObject: Int

    /// Whether objects of this layout span several slabs.
    var isLarge: Bool { slabsPerObject > 1 }

    /// The layout for objects of `stride` bytes aligned to `alignment`; `nil` when none fits.
    init?(stride: Int, alignment: Int, slabSize: Int) {
        let start = max(HeapFormat.line, alignment)
        // Each object takes `stride` bytes and one bitmap bit, so no more than
        // slabSize / (stride + 1/8) fit: counting down from there takes a few
        // steps (the bitmap's rounding), where counting down from
        // slabSize / stride took one step per 8 * stride bytes of bitmap
        // (2^37 steps for a crafted 64 TiB slab of 8-byte objects).
        var n = slabSize / stride
        n = min(n, slabSize * 64 / (stride * 64 + 8))
        while n > 0 && roundUp((n + 63) / 64 * 8, start) + n * stride > slabSize { n -= 1 }
        self.stride = stride
        guard n > 0 else {
            // Larger than a slab: one object over a run of slabs, after a one-word bitmap.
            guard stride <= PoolGeometry.maximumValue else { return nil }
            count = 1
            bitmapWords = 1
            objectsOffset = start
            slabsPerObject = (start + stride + slabSize - 1) / slabSize
            return
        }
        count = n
        bitmapWords = (n + 63) / 64
        objectsOffset = roundUp(bitmapWords * 8, start)
        slabsPerObject = 1
    }

    /// Bits of bitmap word `word` that are past the last slot (never allocatable).
    func invalidBits(word: Int) -> UInt64 {
        let valid = min(64, count - word * 64)
        return valid >= 64 ? 0 : ~((UInt64(1) << UInt64(valid)) - 1)
    }
}
