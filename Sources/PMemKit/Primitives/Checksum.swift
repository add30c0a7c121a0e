// Public, for the inlinable bodies below; SPI keeps them out of the API (see Atomic64.swift).
public import CPMemShim

/// The checksum of every on-media structure: two interleaved CRC32C streams
/// (hardware `crc32` where the CPU has SSE4.2) forming one 64-bit value, with
/// the length mixed in so a shorter copy never matches.
@_spi(Primitives) public enum Checksum {
    /// The checksum of `length` bytes at `bytes`, seeded by `seed` (a
    /// structure's own seed, so one structure's bytes never validate as another's).
    @inlinable @inline(__always)
    public static func of(_ bytes: UnsafeRawPointer, _ length: Int, seed: UInt64) -> UInt64 {
        pmk_checksum64(bytes, length, seed)
    }

    /// A strong 64-bit mix of `value` (a finalizer, for check words and seeds).
    @inlinable @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        pmk_mix64(value)
    }
}
