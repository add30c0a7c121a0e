/// The cache lines a batch wrote in one mapping, each kept once, so that a
/// line several records rewrite is flushed once at the end of the batch (on
/// CPUs whose CLWB evicts the line, flushing as we go would make every
/// rewrite miss). An open-addressing table of line numbers plus the list of
/// lines in insertion order; both are kept between batches (no allocation
/// per batch or per record).
final class LineSet {
    /// Line number + 1 per slot (0: empty); a power-of-two count.
    private var slots: UnsafeMutablePointer<UInt>
    private var mask: Int
    /// The lines held, in insertion order.
    private(set) var lines: [Int] = []

    init(capacity: Int = 1 << 12) {
        let size = max(16, capacity.nextPowerOfTwo)
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0, count: size)
        mask = size - 1
    }

    deinit { slots.deallocate() }

    var isEmpty: Bool { lines.isEmpty }

    /// Notes every line of `[offset, offset + length)`.
    @inline(__always) func insert(offset: Int, length: Int) {
        guard length > 0 else { return }
        for line in (offset >> 6)...((offset + length - 1) >> 6) { insert(line) }
    }

    /// Notes one line.
    func insert(_ line: Int) {
        let key = UInt(bitPattern: line) &+ 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
        while true {
            let held = slots[i]
            if held == key { return }
            if held == 0 { break }
            i = (i + 1) & mask
        }
        slots[i] = key
        lines.append(line)
        if lines.count * 2 > mask { grow() }
    }

    /// Forgets every line (keeping the storage).
    func removeAll() {
        if lines.count * 8 < mask {
            for line in lines { clear(line) }
        } else {
            slots.update(repeating: 0, count: mask + 1)
        }
        lines.removeAll(keepingCapacity: true)
    }

    private func clear(_ line: Int) {
        let key = UInt(bitPattern: line) &+ 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
        while slots[i] != key { i = (i + 1) & mask }
        slots[i] = 0
    }

    private func grow() {
        let size = (mask + 1) * 2
        slots.deallocate()
        slots = .allocate(capacity: size)
        slots.initialize(repeating: 0, count: size)
        mask = size - 1
        let held = lines
        lines.removeAll(keepingCapacity: true)
        for line in held { insert(line) }
    }
}

extension Int {
    /// The smallest power of two at least `self` (1 for values below 1).
    fileprivate var nextPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
