@_spi(Primitives) import PMemKit

/// One lane of the redo log: a region of the pool where one transaction at
/// a time appends its record, plus the volatile state other threads read to
/// advance the checkpoint (one cache line of words, see `Word`).
final class Lane: @unchecked Sendable {
    /// Indices of the shared words.
    enum Word: Int {
        /// 1 while a transaction holds the lane.
        case busy = 0
        /// Sequence being committed, `reserving` while it is drawn, 0 when none.
        case inFlight = 1
        /// Spinlock over `dirty`.
        case dirtyLock = 2
        /// 1 while the lane is lent: its owner waits in `RedoLog.acquireLanes`
        /// and another transaction writes a part of its record here.
        case lent = 3
    }
    /// `inFlight` while a sequence number is being drawn.
    static let reserving = UInt64.max

    let index: Int
    /// First byte of the lane in the pool.
    let start: UnsafeMutableRawPointer
    /// Bytes of the lane.
    let size: Int
    private let words: UnsafeMutablePointer<UInt64>

    /// Where the next record starts (owner only).
    @exclusivity(unchecked) var position = 0
    /// Sequence of the last record written here (owner only).
    @exclusivity(unchecked) var lastSeq: UInt64 = 0
    /// Ranges that records applied here stored in place without flushing
    /// (under `dirtyLock`). They only need to be durable before the
    /// checkpoint passes those records, so `RedoLog.advanceCheckpoint` flushes
    /// them; until then recovery would replay the records anyway.
    @exclusivity(unchecked) var dirty: [(UnsafeMutableRawPointer, Int)] = []

    init(index: Int, start: UnsafeMutableRawPointer, size: Int) {
        self.index = index
        self.start = start
        self.size = size
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        words = raw.initializeMemory(as: UInt64.self, repeating: 0, count: 8)
    }

    deinit { words.deallocate() }

    @inline(__always) func word(_ w: Word) -> UnsafeMutablePointer<UInt64> { words + w.rawValue }

    /// Takes the lane if it is free.
    @inline(__always) func tryAcquire() -> Bool {
        Atomic64.compareExchange(word(.busy), expected: 0, desired: 1)
    }

    /// Gives the lane back: to its owner when it was lent, else to everyone.
    @inline(__always) func release() {
        if Atomic64.loadAcquire(word(.lent)) != 0 {
            Atomic64.storeRelease(word(.lent), 0)
        } else {
            Atomic64.storeRelease(word(.busy), 0)
        }
    }
}

extension Lane {
    /// Takes the spinlock over `dirty` (held for a few stores at a time).
    @inline(__always) func lockDirty() {
        while !Atomic64.compareExchange(word(.dirtyLock), expected: 0, desired: 1) { Atomic64.relax() }
    }

    /// Releases the spinlock over `dirty`.
    @inline(__always) func unlockDirty() { Atomic64.storeRelease(word(.dirtyLock), 0) }

    /// Records a range stored in place, skipping a repeat of the last line.
    @inline(__always) func noteDirty(_ address: UnsafeMutableRawPointer, _ length: Int) {
        if let last = dirty.last, last.0 == address, last.1 >= length { return }
        dirty.append((address, length))
    }
}
