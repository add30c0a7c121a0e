// Why SPI and not `package`: these wrappers must be inlined into the sibling
// modules (the heap's commit path runs several per transaction), an inlinable
// body may only name publicly imported C, and the compiler accepts a public
// import only where a public declaration uses it. `@_spi(Primitives)` keeps
// them out of the public API: only a sibling's `@_spi(Primitives) import
// PMemKit` sees them.
public import CPMemShim

/// 64-bit atomics on plain memory (DRAM or PMem): bitmaps, lane words,
/// counters and locks in the heap and the replication log. An aligned
/// 8-byte store is also the unit of failure atomicity on PMem.
///
/// For PMemKit's own capabilities only (SPI): applications use Swift's
/// `Synchronization` module for their own atomics.
@_spi(Primitives) public enum Atomic64 {
    /// Reads `word`; later reads are not hoisted above it.
    @inlinable @inline(__always)
    public static func loadAcquire(_ word: UnsafePointer<UInt64>) -> UInt64 {
        pmk_load_acquire(word)
    }

    /// Reads `word` in the single total order of sequentially consistent operations.
    @inlinable @inline(__always)
    public static func loadSequentiallyConsistent(_ word: UnsafePointer<UInt64>) -> UInt64 {
        pmk_load_seq_cst(word)
    }

    /// Writes `value`; earlier writes are visible before it.
    @inlinable @inline(__always)
    public static func storeRelease(_ word: UnsafeMutablePointer<UInt64>, _ value: UInt64) {
        pmk_store_release(word, value)
    }

    /// Writes `value` in the single total order (`xchg` on x86).
    @inlinable @inline(__always)
    public static func storeSequentiallyConsistent(_ word: UnsafeMutablePointer<UInt64>, _ value: UInt64) {
        pmk_store_seq_cst(word, value)
    }

    /// Adds `value`; returns the old value.
    @inlinable @inline(__always)
    public static func fetchAdd(_ word: UnsafeMutablePointer<UInt64>, _ value: UInt64) -> UInt64 {
        pmk_fetch_add(word, value)
    }

    /// Sets the bits of `mask`; returns the old value.
    @inlinable @inline(__always)
    public static func fetchOr(_ word: UnsafeMutablePointer<UInt64>, _ mask: UInt64) -> UInt64 {
        pmk_fetch_or(word, mask)
    }

    /// Keeps only the bits of `mask`; returns the old value.
    @inlinable @inline(__always)
    public static func fetchAnd(_ word: UnsafeMutablePointer<UInt64>, _ mask: UInt64) -> UInt64 {
        pmk_fetch_and(word, mask)
    }

    /// Replaces `word` by `desired` if it holds `expected`; whether it did.
    @inlinable @inline(__always)
    public static func compareExchange(
        _ word: UnsafeMutablePointer<UInt64>, expected: UInt64, desired: UInt64
    ) -> Bool {
        pmk_cas(word, expected, desired) != 0
    }

    /// Tells the core the thread is spinning (`pause`).
    @inlinable @inline(__always)
    public static func relax() {
        pmk_cpu_relax()
    }
}
