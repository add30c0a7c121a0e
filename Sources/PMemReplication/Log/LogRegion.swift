import Foundation
@_spi(Primitives) import PMemKit

/// The replication log on PMem: a superblock and a ring of checksummed
/// records. The application appends (`LogWriter`); the HA agent maps the
/// same file, reads records and reclaims space (`LogScanner`,
/// `storeReclaimPoint`). See docs/REPLICATION-LOG.md.
public final class LogRegion: @unchecked Sendable {
    /// The mapping of the whole log file.
    public let mapping: PMemMapping
    /// The log's UUID (seeds its checksums; replicas remember it).
    public let uuid: UUID
    /// Bytes of the ring.
    public let capacity: Int
    /// Seed of the record checksums.
    let salt: UInt64
    private let attachSlots: SlotPair
    private let reclaimSlots: SlotPair

    /// The oldest record the agent still needs, and its sequence number.
    public struct ReclaimPoint: Sendable, Equatable, Codable {
        /// Its byte position in the log.
        public var position: UInt64
        /// Its sequence number (the next one to be written, when the ring is empty).
        public var sequence: UInt64
    }

    /// What the application recorded when it attached a heap, and when it detached.
    public struct Attachment: Sendable, Equatable {
        /// The pool the log carries.
        public var poolUUID: UUID
        /// The base the pool was mapped at (pointers in records are written for it).
        public var poolBase: UInt64
        /// The heap's last commit sequence number when it detached (0 while attached).
        public var lastTransaction: UInt64
        /// The application detached cleanly: every commit up to `lastTransaction` is in the log.
        public var cleanlyDetached: Bool
    }

    private init(mapping: PMemMapping, uuid: UUID, capacity: Int) {
        self.mapping = mapping
        self.uuid = uuid
        self.capacity = capacity
        salt = LogFormat.salt(of: uuid)
        attachSlots = SlotPair(
            mapping: mapping, offsets: LogFormat.attachSlotOffsets,
            seed: salt ^ LogFormat.Seed.attach.rawValue)
        reclaimSlots = SlotPair(
            mapping: mapping, offsets: LogFormat.reclaimSlotOffsets,
            seed: salt ^ LogFormat.Seed.reclaim.rawValue)
    }

    /// The first byte of the ring.
    var ring: UnsafeMutableRawPointer { mapping.base + LogFormat.superblockSize }

    /// Creates a log at `path` whose ring holds `capacity` bytes, rounded up to a multiple of 64 KiB.
    ///
    /// Throws when `path` exists (a log is never overwritten by accident).
    public static func create(path: String, capacity: Int) throws -> LogRegion {
        let ring =
            (capacity + LogFormat.minimumCapacity - 1) / LogFormat.minimumCapacity * LogFormat.minimumCapacity
        guard capacity >= LogFormat.minimumCapacity, ring <= 1 << 40 else {
            throw PMemError(
                .invalidArgument, operation: "log create",
                detail: "a log needs between 64K and 1T of ring, not \(capacity) bytes")
        }
        if access(path, F_OK) == 0 {
            throw PMemError(.busy, operation: "log create", errno: EEXIST, detail: "\(path) already exists")
        }
        let mapping = try PMemMapping(
            path: path, options: .init(size: LogFormat.superblockSize + ring, create: true))
        let uuid = UUID()
        let block = mapping.base
        block.initializeMemory(as: UInt8.self, repeating: 0, count: LogFormat.superblockSize)
        block.storeBytes(of: LogFormat.magic, toByteOffset: LogFormat.Identity.magic, as: UInt64.self)
        block.storeBytes(of: LogFormat.version, toByteOffset: LogFormat.Identity.version, as: UInt32.self)
        block.storeBytes(
            of: UInt32(LogFormat.superblockSize), toByteOffset: LogFormat.Identity.superblockSize,
            as: UInt32.self)
        block.storeBytes(of: UInt64(ring), toByteOffset: LogFormat.Identity.capacity, as: UInt64.self)
        withUnsafeBytes(of: uuid.uuid) {
            (block + LogFormat.Identity.uuid).copyMemory(from: $0.baseAddress!, byteCount: 16)
        }
        block.storeBytes(
            of: Checksum.of(block, LogFormat.Identity.checksum, seed: LogFormat.Seed.identity.rawValue),
            toByteOffset: LogFormat.Identity.checksum, as: UInt64.self)
        mapping.persist(block, LogFormat.superblockSize)
        return LogRegion(mapping: mapping, uuid: uuid, capacity: ring)
    }

    /// Opens the log at `path`, validating its identity; `corrupt` names the problem.
    public static func open(path: String) throws -> LogRegion {
        let mapping = try PMemMapping(path: path)
        func corrupt(_ what: String) -> PMemError {
            PMemError(.corrupt, operation: "log open", detail: "\(path): \(what)")
        }
        guard mapping.size >= LogFormat.superblockSize else {
            throw corrupt("too small to be a replication log")
        }
        let block = UnsafeRawPointer(mapping.base)
        guard block.load(fromByteOffset: LogFormat.Identity.magic, as: UInt64.self) == LogFormat.magic else {
            throw corrupt("not a replication log (bad magic)")
        }
        guard block.load(fromByteOffset: LogFormat.Identity.version, as: UInt32.self) == LogFormat.version
        else {
            throw corrupt("log format version is not \(LogFormat.version)")
        }
        guard
            Checksum.of(block, LogFormat.Identity.checksum, seed: LogFormat.Seed.identity.rawValue)
                == block.load(fromByteOffset: LogFormat.Identity.checksum, as: UInt64.self)
        else { throw corrupt("superblock checksum mismatch (damaged)") }
        let capacity = Int(block.load(fromByteOffset: LogFormat.Identity.capacity, as: UInt64.self))
        guard capacity >= LogFormat.minimumCapacity, capacity % LogFormat.alignment == 0,
            LogFormat.superblockSize + capacity <= mapping.size
        else { throw corrupt("ring of \(capacity) bytes does not fit the file's \(mapping.size)") }
        var raw = uuid_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: block + LogFormat.Identity.uuid, count: 16))
        }
        return LogRegion(mapping: mapping, uuid: UUID(uuid: raw), capacity: capacity)
    }

    /// Opens the log at `path`, creating it with `capacity` ring bytes when absent.
    public static func openOrCreate(path: String, capacity: Int) throws -> LogRegion {
        access(path, F_OK) == 0 ? try open(path: path) : try create(path: path, capacity: capacity)
    }

    // MARK: Reclaim point (the agent's)

    /// The oldest record still needed; position 0, sequence 1 for a new log.
    public func reclaimPoint() -> ReclaimPoint {
        guard let slot = reclaimSlots.current() else { return ReclaimPoint(position: 0, sequence: 1) }
        return ReclaimPoint(
            position: slot.fields.load(as: UInt64.self),
            sequence: slot.fields.load(fromByteOffset: 8, as: UInt64.self))
    }

    /// Records that every record before `point` may be overwritten (the agent, after acknowledgements).
    public func storeReclaimPoint(_ point: ReclaimPoint) {
        reclaimSlots.update { fields in
            fields.storeBytes(of: point.position, as: UInt64.self)
            fields.storeBytes(of: point.sequence, toByteOffset: 8, as: UInt64.self)
        }
    }

    // MARK: Attachment (the application's)

    /// The last attachment recorded, or `nil` for a log no heap was ever attached to.
    public func attachment() -> Attachment? {
        guard let slot = attachSlots.current() else { return nil }
        var raw = uuid_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: slot.fields, count: 16))
        }
        return Attachment(
            poolUUID: UUID(uuid: raw), poolBase: slot.fields.load(fromByteOffset: 16, as: UInt64.self),
            lastTransaction: slot.fields.load(fromByteOffset: 24, as: UInt64.self),
            cleanlyDetached: slot.fields.load(fromByteOffset: 32, as: UInt32.self) & 1 != 0)
    }

    /// Records an attachment (persisted).
    func storeAttachment(_ attachment: Attachment) {
        attachSlots.update { fields in
            withUnsafeBytes(of: attachment.poolUUID.uuid) {
                fields.copyMemory(from: $0.baseAddress!, byteCount: 16)
            }
            fields.storeBytes(of: attachment.poolBase, toByteOffset: 16, as: UInt64.self)
            fields.storeBytes(of: attachment.lastTransaction, toByteOffset: 24, as: UInt64.self)
            fields.storeBytes(of: attachment.cleanlyDetached ? 1 : 0, toByteOffset: 32, as: UInt32.self)
        }
    }

    // MARK: Records

    /// The record at `position` if it is whole (see `LogRecordHeader.validated`).
    func record(at position: UInt64) -> (header: LogRecordHeader, bytes: UnsafeRawPointer)? {
        let offset = Int(position % UInt64(capacity))
        let p = UnsafeRawPointer(ring + offset)
        guard
            let header = LogRecordHeader.validated(
                at: p, available: capacity - offset, salt: salt, position: position)
        else { return nil }
        return (header, p)
    }

    /// Maps every page of the ring writable now (`MADV_POPULATE_WRITE`), so
    /// that appends never take a first-touch page fault (on a file-backed
    /// mapping each costs microseconds: the kernel zeroes the page). A ring
    /// is reused lap after lap, so this is paid once, when the writer opens.
    /// Mappings that cannot be populated (devdax, old kernels) are left alone.
    func prefaultRing() {
        _ = madvise(ring, capacity, MADV_POPULATE_WRITE)
    }

    /// The position where the ring's next lap starts, after `position`.
    func nextLap(after position: UInt64) -> UInt64 {
        (position / UInt64(capacity) + 1) * UInt64(capacity)
    }
}
