internal import CPMemReplication
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
    private let attachSlots: SlotPair<pmr_attach_slot>
    private let reclaimSlots: SlotPair<pmr_reclaim_slot>
    private let poolPathSlots: SlotPair<pmr_pool_path_slot>

    /// The oldest record the agent still needs, and its sequence number.
    public struct ReclaimPoint: Sendable, Equatable, Codable {
        /// Its byte position in the log.
        public var position: UInt64
        /// Its sequence number (the next one to be written, when the ring is empty).
        public var sequence: UInt64
        /// The heap transaction number of the record before it, the last
        /// one reclaimed (0: unknown: nothing reclaimed yet, or a point
        /// stored by an agent that did not record it). An agent starting
        /// where every record was reclaimed reports it as the last
        /// transaction the replicas hold.
        public var transaction: UInt64

        /// A reclaim point.
        public init(position: UInt64, sequence: UInt64, transaction: UInt64 = 0) {
            self.position = position
            self.sequence = sequence
            self.transaction = transaction
        }
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
        /// The attached application's process (0: not recorded, a log attached by an earlier version).
        public var processID: Int32 = 0
        /// The pool's state generation while the application has it open
        /// (`PersistentHeap.openGeneration`; 0: not recorded): the pool
        /// shows another once it was closed or opened again.
        public var poolGeneration: UInt64 = 0
    }

    private init(mapping: PMemMapping, uuid: UUID, capacity: Int) {
        self.mapping = mapping
        self.uuid = uuid
        self.capacity = capacity
        salt = LogFormat.salt(of: uuid)
        attachSlots = SlotPair(
            mapping: mapping, offset: LogFormat.attachSlotsOffset, seed: salt ^ LogFormat.Seed.attach.rawValue
        )
        reclaimSlots = SlotPair(
            mapping: mapping, offset: LogFormat.reclaimSlotsOffset,
            seed: salt ^ LogFormat.Seed.reclaim.rawValue)
        poolPathSlots = SlotPair(
            mapping: mapping, offset: LogFormat.poolPathSlotsOffset,
            seed: salt ^ LogFormat.Seed.poolPath.rawValue)
    }

    /// Bytes of the identity block its checksum covers: those before the checksum field.
    private static let identityCheckedBytes = MemoryLayout<pmr_log_identity>.offset(of: \.checksum)!

    /// The first byte of the ring.
    var ring: UnsafeMutableRawPointer { mapping.base + LogFormat.superblockSize }

    /// Creates a log at `path` whose ring holds `capacity` bytes, rounded up to a multiple of 64 KiB.
    ///
    /// Throws when `path` exists (a log is never overwritten by accident).
    public static func create(path: String, capacity: Int) throws -> LogRegion {
        try create(path: path, capacity: capacity, uuid: UUID())
    }

    /// Creates a log as `create(path:capacity:)` does, with a given UUID (tests
    /// compare its bytes) and, for store-reordering checks, a given persist path.
    static func create(
        path: String, capacity: Int, uuid: UUID, persistPath: PersistPath? = nil
    ) throws -> LogRegion {
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
        var options = PMemMapping.Options(size: LogFormat.superblockSize + ring, create: true)
        options.persistPath = persistPath
        let mapping = try PMemMapping(path: path, options: options)
        let block = mapping.base
        block.initializeMemory(as: UInt8.self, repeating: 0, count: LogFormat.superblockSize)
        var identity = pmr_log_identity()
        identity.magic = LogFormat.magic
        identity.version = LogFormat.version
        identity.superblock_size = UInt32(LogFormat.superblockSize)
        identity.capacity = UInt64(ring)
        identity.uuid = uuid.uuid
        identity.checksum = withUnsafeBytes(of: identity) {
            Checksum.of($0.baseAddress!, identityCheckedBytes, seed: LogFormat.Seed.identity.rawValue)
        }
        (block + LogFormat.identityOffset).storeBytes(of: identity, as: pmr_log_identity.self)
        mapping.persist(block, LogFormat.superblockSize)
        return LogRegion(mapping: mapping, uuid: uuid, capacity: ring)
    }

    /// Opens the log at `path`, validating its identity; `corrupt` names the problem.
    public static func open(path: String) throws -> LogRegion {
        try open(path: path, persistPath: nil)
    }

    /// Opens the log as `open(path:)` does, on a given persist path (store-reordering checks).
    static func open(path: String, persistPath: PersistPath?) throws -> LogRegion {
        var options = PMemMapping.Options()
        options.persistPath = persistPath
        let mapping = try PMemMapping(path: path, options: options)
        func corrupt(_ what: String) -> PMemError {
            PMemError(.corrupt, operation: "log open", detail: "\(path): \(what)")
        }
        guard mapping.size >= LogFormat.superblockSize else {
            throw corrupt("too small to be a replication log")
        }
        let block = UnsafeRawPointer(mapping.base + LogFormat.identityOffset)
        let identity = block.load(as: pmr_log_identity.self)
        guard identity.magic == LogFormat.magic else {
            throw corrupt("not a replication log (bad magic)")
        }
        guard identity.version == LogFormat.version else {
            throw corrupt("log format version is not \(LogFormat.version)")
        }
        guard
            Checksum.of(block, identityCheckedBytes, seed: LogFormat.Seed.identity.rawValue)
                == identity.checksum
        else { throw corrupt("superblock checksum mismatch (damaged)") }
        // Checked as an unsigned value first: a huge one must not trap converting to Int.
        guard identity.capacity <= UInt64(mapping.size) else {
            throw corrupt("ring of \(identity.capacity) bytes does not fit the file's \(mapping.size)")
        }
        let capacity = Int(identity.capacity)
        guard capacity >= LogFormat.minimumCapacity, capacity % LogFormat.alignment == 0,
            LogFormat.superblockSize + capacity <= mapping.size
        else { throw corrupt("ring of \(capacity) bytes does not fit the file's \(mapping.size)") }
        let region = LogRegion(mapping: mapping, uuid: UUID(uuid: identity.uuid), capacity: capacity)
        // The writer and the agent add to these: out of range, they are damage, not numbers.
        let point = region.reclaimPoint()
        guard point.position < LogFormat.counterLimit, point.position % UInt64(LogFormat.alignment) == 0,
            point.sequence >= 1, point.sequence < LogFormat.counterLimit
        else {
            throw corrupt(
                "reclaim point (position \(point.position), sequence \(point.sequence)) is out of range")
        }
        return region
    }

    /// Opens the log at `path`, creating it with `capacity` ring bytes when absent.
    public static func openOrCreate(path: String, capacity: Int) throws -> LogRegion {
        access(path, F_OK) == 0 ? try open(path: path) : try create(path: path, capacity: capacity)
    }

    // MARK: Reclaim point (the agent's)

    /// The oldest record still needed; position 0, sequence 1 for a new log.
    public func reclaimPoint() -> ReclaimPoint {
        guard let slot = reclaimSlots.current()?.value else { return ReclaimPoint(position: 0, sequence: 1) }
        return ReclaimPoint(
            position: slot.head_position, sequence: slot.head_sequence, transaction: slot.last_transaction)
    }

    /// The agent's etcd leadership as the application sees it.
    public var leaseFence: LeaseFence { LeaseFence(region: self) }

    /// Records that every record before `point` may be overwritten (the agent, after acknowledgements).
    public func storeReclaimPoint(_ point: ReclaimPoint) {
        reclaimSlots.update { slot in
            slot.head_position = point.position
            slot.head_sequence = point.sequence
            slot.last_transaction = point.transaction
        }
    }

    // MARK: Attachment (the application's)

    /// The last attachment recorded, or `nil` for a log no heap was ever attached to.
    public func attachment() -> Attachment? { attachmentRecord()?.attachment }

    /// The last attachment and its slot's generation, which grows with every
    /// attach and detach (so two reads with the same generation saw no
    /// attach or detach in between).
    func attachmentRecord() -> (attachment: Attachment, generation: UInt64)? {
        guard let slot = attachSlots.current()?.value else { return nil }
        return (
            Attachment(
                poolUUID: UUID(uuid: slot.pool_uuid), poolBase: slot.pool_base,
                lastTransaction: slot.last_transaction, cleanlyDetached: slot.flags & 1 != 0,
                processID: Int32(bitPattern: slot.process_id), poolGeneration: slot.pool_generation),
            slot.generation
        )
    }

    /// Records an attachment (persisted).
    func storeAttachment(_ attachment: Attachment) {
        attachSlots.update { slot in
            slot.pool_uuid = attachment.poolUUID.uuid
            slot.pool_base = attachment.poolBase
            slot.last_transaction = attachment.lastTransaction
            slot.flags = attachment.cleanlyDetached ? 1 : 0
            slot.process_id = UInt32(bitPattern: attachment.processID)
            slot.pool_generation = attachment.poolGeneration
        }
    }

    // MARK: Pool path (the application's)

    /// Where the pool the log carries is (absolute), as the application
    /// recorded it when it attached; `nil` when none was recorded.
    public func poolPath() -> String? {
        guard let slot = poolPathSlots.current()?.value,
            slot.length > 0, Int(slot.length) <= LogFormat.maxPoolPath
        else { return nil }
        return withUnsafeBytes(of: slot.path) {
            String(decoding: $0.prefix(Int(slot.length)), as: UTF8.self)
        }
    }

    /// Records the pool's path (persisted), unless it is the one recorded;
    /// throws `invalidArgument` for a path longer than the log holds.
    func storePoolPath(_ path: String) throws {
        guard poolPath() != path else { return }
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= LogFormat.maxPoolPath else {
            throw PMemError(
                .invalidArgument, operation: "replication",
                detail: "the pool's path has \(bytes.count) bytes; the log records at most "
                    + "\(LogFormat.maxPoolPath) (the HA agent reads the pool there)")
        }
        poolPathSlots.update { slot in
            slot.length = UInt32(bytes.count)
            withUnsafeMutableBytes(of: &slot.path) { $0.copyBytes(from: bytes) }
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
