internal import CPMemReplication
import Foundation
@_spi(Primitives) import PMemKit

/// Fixed numbers of the on-media replication log (docs/REPLICATION-LOG.md).
///
/// The layouts are C structs in `pmr_format.h` (CPMemReplication), whose
/// `_Static_assert`s pin every field offset and size; what is here is read
/// off those structs. Every integer is little-endian; every offset is from
/// the first byte of the log file. The superblock's identity is written
/// once; the attach, reclaim and pool path records are each kept in two
/// checksummed slots written alternately, so a torn update leaves the
/// previous value.
enum LogFormat {
    /// `PMKRLOG1` read as a little-endian UInt64.
    static let magic: UInt64 = 0x3147_4f4c_524b_4d50
    /// The format version this code writes and reads.
    static var version: UInt32 { UInt32(PMR_FORMAT_VERSION) }
    /// Bytes before the ring (`pmr_log_superblock`): identity, attach slots, reclaim slots.
    static var superblockSize: Int { MemoryLayout<pmr_log_superblock>.size }
    /// Records start on cache-line boundaries.
    static var alignment: Int { 64 }
    /// Smallest ring: a few maximal small records.
    static let minimumCapacity = 64 << 10

    /// Positions and sequence numbers stay below this (2^63): a log would
    /// take decades of appends to get near it, so a larger one read from
    /// media or a peer is damage, and below it adding a record's footprint
    /// or one to a sequence number cannot overflow.
    static let counterLimit: UInt64 = 1 << 63

    /// Where the identity block (`pmr_log_identity`) starts.
    static let identityOffset = MemoryLayout<pmr_log_superblock>.offset(of: \.identity)!
    /// Where the attach slots (`pmr_attach_slot`, the application's) start.
    static let attachSlotsOffset = MemoryLayout<pmr_log_superblock>.offset(of: \.attach)!
    /// Where the reclaim slots (`pmr_reclaim_slot`, the agent's) start.
    static let reclaimSlotsOffset = MemoryLayout<pmr_log_superblock>.offset(of: \.reclaim)!
    /// Where the pool path slots (`pmr_pool_path_slot`, the application's) start.
    static let poolPathSlotsOffset = MemoryLayout<pmr_log_superblock>.offset(of: \.pool_path)!
    /// The longest pool path a log records, in bytes.
    static var maxPoolPath: Int { Int(PMR_POOL_PATH_MAX) }

    /// Bytes of a record's header (`pmr_log_record_header`); the payload follows it.
    static var headerSize: Int { MemoryLayout<pmr_log_record_header>.size }

    /// Checksum seeds per structure, so one structure's bytes never validate as another's.
    enum Seed: UInt64 {
        case identity = 0x4c4f_4749_4445_4e54
        case attach = 0x4c4f_4741_5454_4143
        case reclaim = 0x4c4f_4752_4543_4c4d
        case poolPath = 0x4c4f_4750_4f4f_4c50
        case record = 0x4c4f_4752_4543_4f52
    }

    /// Bytes a record of `payload` bytes occupies in the ring.
    @inline(__always) static func footprint(payload: Int) -> Int {
        (headerSize + payload + alignment - 1) & ~(alignment - 1)
    }

    /// The seed of a log's record checksums: its UUID, mixed.
    static func salt(of uuid: UUID) -> UInt64 {
        withUnsafeBytes(of: uuid.uuid) {
            let lo = $0.loadUnaligned(as: UInt64.self)
            let hi = $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            return Checksum.mix(lo ^ Checksum.mix(hi ^ Seed.record.rawValue))
        }
    }
}

/// What a log record holds (`enum pmr_record_kind` on media).
public enum LogRecordKind: UInt16, Sendable, Codable {
    /// One committed heap transaction: the pool writes it depends on, then its redo record.
    case transaction = 1
    /// A new baseline of the pool starts: the replica begins a fresh copy.
    case baselineBegin = 2
    /// Part of a baseline: pool writes onto the fresh copy.
    case baselineWrites = 3
    /// The baseline is complete: the fresh copy replaces the replica's pool.
    case baselineEnd = 4
    /// Not a record: the ring continues at its start (takes no sequence number).
    case wrap = 15
}
