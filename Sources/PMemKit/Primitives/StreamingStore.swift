// Public, for the inlinable bodies below; SPI keeps them out of the API (see Atomic64.swift).
public import CPMemShim

/// Non-temporal stores for data built in DRAM and written once to PMem (redo
/// and log records, new objects): no read-for-ownership, and nothing to write
/// back before the next fence, which orders them.
@_spi(Primitives) public enum StreamingStore {
    /// Copies `length` bytes (a multiple of 8) to `destination` (8-byte aligned).
    @inlinable @inline(__always)
    public static func copy(
        to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, _ length: Int
    ) {
        pmk_stream_copy(destination, source, length)
    }

    /// Zeroes `length` bytes (a multiple of 64) at `destination` (64-byte aligned).
    @inlinable @inline(__always)
    public static func zero(_ destination: UnsafeMutableRawPointer, _ length: Int) {
        pmk_stream_zero(destination, length)
    }
}
