internal import CPMemReplication
import Foundation
@_spi(Primitives) import PMemKit

/// The header of one record in the replication log (48 bytes, `pmr_log_record_header`):
///
/// ```
/// position u64 | sequence u64 | transaction u64 | time ns u64 |
/// payload length u32 | kind u16 | flags u16 | checksum u64
/// ```
///
/// The checksum covers the other header words and the payload and is seeded
/// by the log's UUID. The position (the record's byte offset in the log's
/// unbounded address space) is inside it, so bytes left from an earlier
/// trip round the ring never validate at a later position.
public struct LogRecordHeader: Sendable, Equatable {
    /// Byte position of the record in the log (ring offset = position mod capacity).
    public var position: UInt64
    /// The log sequence number: 1, 2, 3, ... with no gaps.
    public var sequence: UInt64
    /// The heap's commit sequence number of the transaction (0 for baseline records).
    public var transaction: UInt64
    /// When the record was appended (CLOCK_REALTIME, nanoseconds).
    public var time: UInt64
    /// Bytes of payload after the header.
    public var payloadLength: Int
    /// What the record holds.
    public var kind: LogRecordKind

    /// Bytes the record occupies in the ring (header and payload, padded to 64).
    public var footprint: Int { LogFormat.footprint(payload: payloadLength) }

    /// Where the checksum lies in the header, which makes it the bytes its
    /// seed covers (those before it). It is the header's last word: a
    /// constant, where a key path's offset would be a lazily initialized
    /// global on the commit path.
    static var checksumOffset: Int { MemoryLayout<pmr_log_record_header>.size - 8 }

    /// Reads the fields at `p` (any alignment); `nil` when the kind is unknown.
    static func read(from p: UnsafeRawPointer) -> LogRecordHeader? {
        let stored = p.loadUnaligned(as: pmr_log_record_header.self)
        guard let kind = LogRecordKind(rawValue: stored.kind) else { return nil }
        return LogRecordHeader(
            position: stored.position, sequence: stored.sequence, transaction: stored.transaction,
            time: stored.time_ns, payloadLength: Int(stored.payload_length), kind: kind)
    }

    /// The checksum of the record at `p` whose payload is `payloadLength` bytes.
    static func checksum(_ p: UnsafeRawPointer, payloadLength: Int, salt: UInt64) -> UInt64 {
        let headerSum = Checksum.of(p, checksumOffset, seed: salt)
        return Checksum.of(p + LogFormat.headerSize, payloadLength, seed: headerSum)
    }

    /// Writes the header to `p` with the checksum of these fields and
    /// `payload` (held elsewhere: the checksum is computed over the source).
    func writeHeader(to p: UnsafeMutableRawPointer, payload: UnsafeRawBufferPointer, salt: UInt64) {
        var (stored, headerSum) = unsealed(salt: salt)
        stored.checksum =
            payload.isEmpty
            ? Checksum.of(p, 0, seed: headerSum)
            : Checksum.of(payload.baseAddress!, payload.count, seed: headerSum)
        p.storeBytes(of: stored, as: pmr_log_record_header.self)
    }

    /// The header as stored, checksum 0, and the seed the payload's checksum
    /// continues from (these fields' own checksum, seeded by `salt`).
    @inline(__always)
    func unsealed(salt: UInt64) -> (header: pmr_log_record_header, payloadSeed: UInt64) {
        let stored = pmr_log_record_header(
            position: position, sequence: sequence, transaction: transaction, time_ns: time,
            payload_length: UInt32(payloadLength), kind: kind.rawValue, flags: 0, checksum: 0)
        let headerSum = withUnsafeBytes(of: stored) {
            Checksum.of($0.baseAddress!, Self.checksumOffset, seed: salt)
        }
        return (stored, headerSum)
    }

    /// The record at `p` when it is whole: a known kind, a payload within the
    /// `available` bytes, the expected position (when given), and a matching
    /// checksum. `nil` otherwise (torn, stale, damaged, or never written).
    static func validated(
        at p: UnsafeRawPointer, available: Int, salt: UInt64, position expected: UInt64? = nil
    ) -> LogRecordHeader? {
        guard available >= LogFormat.headerSize, let header = read(from: p) else { return nil }
        if let expected, header.position != expected { return nil }
        guard header.payloadLength <= available - LogFormat.headerSize,
            p.loadUnaligned(as: pmr_log_record_header.self).checksum
                == checksum(p, payloadLength: header.payloadLength, salt: salt)
        else { return nil }
        return header
    }
}
