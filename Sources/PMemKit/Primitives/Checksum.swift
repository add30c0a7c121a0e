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

    /// Writes a record to `destination` (64-byte aligned) in whole 64-byte
    /// lines: `head` (a multiple of 8 bytes, fewer than 64), then `payload`,
    /// then `rest`, zero-padded to a line's end. Returns the checksum (`of`)
    /// of `payload` and `rest` together, also stored `sealAt` bytes into the
    /// head's copy, whose line goes last. `payload` holds whole 8-byte words
    /// when `rest` is not empty. `streaming` uses non-temporal stores of
    /// whole lines (durable at the next fence, and no partial write-combining
    /// flushes); otherwise plain stores the caller flushes. Each source word
    /// is read once.
    @inlinable @inline(__always)
    public static func copyLines(
        to destination: UnsafeMutableRawPointer, head: UnsafeRawBufferPointer, sealAt: Int,
        _ payload: UnsafeRawBufferPointer, _ rest: UnsafeRawBufferPointer, seed: UInt64, streaming: Bool
    ) -> UInt64 {
        var spans = (
            pmk_span(base: payload.baseAddress, len: payload.count),
            pmk_span(base: rest.baseAddress, len: rest.count)
        )
        return withUnsafePointer(to: &spans) {
            $0.withMemoryRebound(to: pmk_span.self, capacity: 2) {
                pmk_checksum_copy_lines(
                    destination, head.baseAddress, head.count, sealAt, $0, rest.isEmpty ? 1 : 2, seed,
                    streaming ? 1 : 0)
            }
        }
    }

    /// A strong 64-bit mix of `value` (a finalizer, for check words and seeds).
    @inlinable @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        pmk_mix64(value)
    }
}
