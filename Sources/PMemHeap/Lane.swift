import CPMemHeap

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
        /// Latest sequence whose changes are stored in place (maybe not yet flushed).
        case applied = 2
        /// Latest sequence whose changes are known durable.
        case durable = 3
        /// Pool offset of the record of `applied`.
        case pendingOffset = 4
        /// The thread that applied `applied` (a fence on another thread does not cover it).
        case lastThread = 5
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
    var position = 0
    /// Sequence of the last record written here (owner only).
    var lastSeq: UInt64 = 0

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
    @inline(__always) func tryAcquire() -> Bool { pmh_cas(word(.busy), 0, 1) != 0 }

    /// Gives the lane back.
    @inline(__always) func release() { pmh_store_release(word(.busy), 0) }
}
