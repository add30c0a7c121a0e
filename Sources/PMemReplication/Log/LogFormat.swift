import Foundation
@_spi(Primitives) import PMemKit

/// Fixed numbers of the on-media replication log (docs/REPLICATION-LOG.md).
///
/// Every integer is little-endian; every offset is from the first byte of the
/// log file. The superblock's identity is written once; the attach and reclaim
/// records are each kept in two checksummed slots written alternately, so a
/// torn update leaves the previous value.
enum LogFormat {
    /// `PMKRLOG1` read as a little-endian UInt64.
    static let magic: UInt64 = 0x3147_4f4c_524b_4d50
    /// The format version this code writes and reads.
    static let version: UInt32 = 1
    /// Bytes before the ring: identity, attach slots, reclaim slots.
    static let superblockSize = 4096
    /// Records start on cache-line boundaries.
    static let alignment = 64
    /// Smallest ring: a few maximal small records.
    static let minimumCapacity = 64 << 10

    /// Identity block (written once at creation).
    enum Identity {
        static let magic = 0
        static let version = 8
        static let superblockSize = 12
        static let capacity = 16
        static let uuid = 24
        static let checksum = 120
        static let size = 128
    }

    /// Attach slots (the application's): which pool the log carries and how it was left.
    static let attachSlotOffsets = [256, 320]
    enum AttachSlot {
        static let generation = 0
        static let poolUUID = 8
        static let poolBase = 24
        static let lastTransaction = 32
        static let flags = 40
        static let checksum = 56
        static let size = 64
    }

    /// Reclaim slots (the agent's): the oldest record still needed.
    static let reclaimSlotOffsets = [384, 448]
    enum ReclaimSlot {
        static let generation = 0
        static let headPosition = 8
        static let headSequence = 16
        static let checksum = 56
        static let size = 64
    }

    /// A record's header; the payload follows it.
    enum Header {
        static let position = 0
        static let sequence = 8
        static let transaction = 16
        static let time = 24
        static let payloadLength = 32
        static let kind = 36
        static let flags = 38
        static let checksum = 40
        static let size = 48
    }

    /// Checksum seeds per structure, so one structure's bytes never validate as another's.
    enum Seed: UInt64 {
        case identity = 0x4c4f_4749_4445_4e54
        case attach = 0x4c4f_4741_5454_4143
        case reclaim = 0x4c4f_4752_4543_4c4d
        case record = 0x4c4f_4752_4543_4f52
    }

    /// Bytes a record of `payload` bytes occupies in the ring.
    @inline(__always) static func footprint(payload: Int) -> Int {
        (Header.size + payload + alignment - 1) & ~(alignment - 1)
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

/// What a log record holds.
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
