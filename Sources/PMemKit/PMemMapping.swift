internal import CPMemShim
import Foundation
import Synchronization

/// A mapping of persistent memory: a devdax character device, a file on an
/// fsdax file system (MAP_SYNC), or a plain file treated as PMem.
///
/// The backing is always reported honestly:
/// - `pmem`: devdax, or fsdax with MAP_SYNC; CPU flushes reach the media.
/// - `emulated`: a plain file used as PMem; flushes reach the page cache,
///   which survives a process crash but not power loss. The default for
///   plain files, so everything runs on any Linux machine.
/// - `file`: a plain file made durable with `msync`.
///
/// On a `file` backing, `persist`, `flush`, `copyPersist` and
/// `setPersist` call `msync`, which can fail (EIO from writeback, ENOMEM
/// for a range no longer mapped). They do not throw, so that the persist
/// calls of every backing stay the same: the mapping keeps the first
/// failure (sticky, like the kernel's errseq: a later msync that succeeds
/// does not bring back what the failed one lost), and `checkDurability()`
/// and `deepFlush()` throw it. A program on a `file` backing checks one of
/// them where it needs to know its stores are durable (the heap does at
/// every commit); `durabilityFailure` reads it without throwing.
public final class PMemMapping: @unchecked Sendable {
    /// What the mapping's durability rests on.
    public enum Backing: String, Codable, Sendable {
        /// Real (or hypervisor-emulated) persistent memory, mapped directly.
        case pmem
        /// A file treated as PMem: survives process crashes, not power loss.
        case emulated
        /// A file made durable with msync.
        case file
    }

    /// What kind of object was mapped.
    public enum DeviceKind: String, Codable, Sendable {
        /// A device-DAX character device.
        case devdax
        /// A file on a DAX file system, mapped with MAP_SYNC.
        case fsdax
        /// A regular file without DAX.
        case file
        /// A block device (page cache, no DAX).
        case block
    }

    /// What a plain (non-DAX) file counts as.
    public enum PlainFilePolicy: String, Codable, Sendable, CaseIterable {
        /// Treat it as PMem (CPU flushes): the embedded default.
        case emulated
        /// Make it durable with msync.
        case file
    }

    /// How to open a mapping.
    public struct Options: Sendable {
        /// Bytes to map. A file shorter than this is grown; `nil` maps the whole object.
        public var size: Int?
        /// Create the file when it does not exist (needs `size`).
        public var create: Bool
        /// Map read-only.
        public var readOnly: Bool
        /// What a plain file counts as; `PMEMKIT_FILE_BACKING=file|emulated` overrides the default.
        public var plainFile: PlainFilePolicy
        /// Map at exactly this address (MAP_FIXED_NOREPLACE), or fail.
        public var address: UInt?
        /// Fail unless the backing is `pmem`.
        public var requirePMem: Bool
        /// The CPU path of a `pmem` or `emulated` mapping instead of the one
        /// its persistence domain selects (tests: `PersistPath.traced`).
        package var persistPath: PersistPath?

        /// Options; the defaults map an existing object read-write.
        public init(
            size: Int? = nil, create: Bool = false, readOnly: Bool = false, plainFile: PlainFilePolicy? = nil,
            address: UInt? = nil, requirePMem: Bool = false
        ) {
            self.size = size
            self.create = create
            self.readOnly = readOnly
            self.plainFile =
                plainFile ?? Overrides.currentOrDefaults.choice(.fileBacking).flatMap(
                    PlainFilePolicy.init(rawValue:)) ?? .emulated
            self.address = address
            self.requirePMem = requirePMem
        }
    }

    /// The path that was mapped.
    public let path: String
    /// First byte of the mapping.
    public let base: UnsafeMutableRawPointer
    /// Mapped length, bytes.
    public let size: Int
    /// What durability rests on.
    public let backing: Backing
    /// What was mapped.
    public let kind: DeviceKind
    /// The nd bus, region and namespace under the mapping, when it is on an NVDIMM or CXL region.
    public let location: DeviceLocation?
    /// The region's persistence domain; `unknown` off PMem.
    public let persistenceDomain: PersistenceDomain
    /// What a deep flush does for the region behind the mapping.
    public let deepFlushCapability: DeepFlushCapability
    /// The CPU persist path; `nil` when durability comes from msync.
    @usableFromInline let cpuPath: PersistPath?
    /// Regions whose WPQ a deep flush writes to.
    private let deepFlushTargets: [RegionDeepFlush]
    private let fd: Int32
    /// Whether this mapping created the file (`Options.create` and it did not
    /// exist): a caller whose later steps fail removes it, and only then.
    public let createdFile: Bool
    /// The first msync failure of a `file` backing; never cleared.
    private let firstFailure = Mutex<PMemError?>(nil)

    /// Maps `path`.
    ///
    /// Throws a `PMemError` naming the problem: a missing file, a size that
    /// does not fit, an address already in use, a non-PMem backing when
    /// `requirePMem` is set.
    public init(path: String, options: Options = Options()) throws {
        // A mistyped PMEMKIT_* variable stops here, before a default stands in for it.
        _ = try Overrides.current()
        self.path = path
        var st = stat()
        var created = false
        var ok = false
        // A file made here and then refused (not PMem, not mappable) is removed: nothing half-made stays.
        defer { if created && !ok { unlink(path) } }
        if stat(path, &st) != 0 {
            guard errno == ENOENT, options.create else {
                throw PMemError.system("open", errno: errno, detail: path)
            }
            guard let size = options.size, size > 0 else {
                throw PMemError(
                    .invalidArgument, operation: "create", detail: "\(path): a new file needs a size")
            }
            try Self.createFile(path, size: size)
            created = true
            guard stat(path, &st) == 0 else { throw PMemError.system("stat", errno: errno, detail: path) }
        }
        createdFile = created
        let fileType = st.st_mode & S_IFMT
        // Refused before the open: a FIFO would block it, and a character
        // device that is not DAX (a terminal, /dev/zero) is not opened at all.
        try InputFile.checkMappable(st, path: path, operation: "map")
        // Without blocking (no effect on files and DAX devices): a path replaced
        // by a FIFO since the stat opens at once, and is refused below.
        let fd = open(path, (options.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        defer { if !ok { close(fd) } }
        var opened = stat()
        guard fstat(fd, &opened) == 0, opened.st_dev == st.st_dev, opened.st_ino == st.st_ino else {
            throw PMemError(.busy, operation: "map", detail: "\(path) changed while it was being opened")
        }

        let objectSize: Int
        let location: DeviceLocation?
        switch fileType {
        case S_IFCHR:
            location = try DeviceLocation.of(device: st.st_rdev, isCharacterDevice: true)
            objectSize = try Self.characterDeviceSize(st.st_rdev, path: path)
        case S_IFBLK:
            location = try DeviceLocation.of(device: st.st_rdev, isCharacterDevice: false)
            var bytes: UInt64 = 0
            guard ioctl(fd, blkGetSize64, &bytes) == 0 else {
                throw PMemError.system("BLKGETSIZE64", errno: errno, detail: path)
            }
            objectSize = Int(bytes)
        default:
            location = try DeviceLocation.of(device: st.st_dev, isCharacterDevice: false)
            objectSize = Int(st.st_size)
            if let wanted = options.size, wanted > objectSize {
                guard !options.readOnly else {
                    throw PMemError(
                        .invalidArgument, operation: "map",
                        detail: "\(path) holds \(objectSize) bytes, fewer than the \(wanted) asked for")
                }
                try Self.grow(fd, to: wanted, path: path)
            }
        }
        let length = options.size ?? objectSize
        guard length > 0 else {
            throw PMemError(.invalidArgument, operation: "map", detail: "\(path) is empty; give a size")
        }
        guard fileType == S_IFREG || length <= objectSize else {
            throw PMemError(
                .invalidArgument, operation: "map",
                detail: "\(path) holds \(objectSize) bytes, fewer than the \(length) asked for")
        }

        let (base, kind, backing) = try Self.map(
            fd: fd, length: length, fileType: fileType, options: options, path: path)
        self.base = base
        self.size = length
        self.kind = kind
        self.backing = backing
        self.location = backing == .pmem ? location : nil
        self.fd = fd

        // The region decides eADR and deep flush; a file off PMem has neither.
        var domain = PersistenceDomain.unknown
        var capability = DeepFlushCapability.unavailable
        var targets: [RegionDeepFlush] = []
        if backing == .pmem, let region = location?.region,
            let target = try? RegionDeepFlush(region: region, operation: "map")
        {
            domain = target.persistenceDomain
            capability = target.capability
            if capability == .supported { targets.append(target) }
        }
        self.persistenceDomain = domain
        self.deepFlushCapability = capability
        self.deepFlushTargets = targets
        switch backing {
        case .file: cpuPath = nil
        case .pmem, .emulated: cpuPath = options.persistPath ?? (domain == .cpuCache ? .eADR : .standard)
        }
        if options.requirePMem && backing != .pmem {
            munmap(base, length)
            throw PMemError(
                .unsupported, operation: "map",
                detail:
                    "\(path) is not persistent memory (backing: \(backing.rawValue)); use devdax or a file on mount -o dax"
            )
        }
        ok = true
    }

    deinit {
        munmap(base, size)
        close(fd)
    }

    /// How stores are made durable: `clwb + sfence`, `sfence only (eADR)` or `msync`.
    public var flushMethod: String { cpuPath?.description ?? "msync" }

    /// The CPU persist path, or `nil` when durability comes from msync.
    public var persistPath: PersistPath? { cpuPath }

    /// The regions a deep flush writes to (those with flush hints).
    public var deepFlushRegions: [String] { deepFlushTargets.map(\.region) }

    /// A pointer `offset` bytes into the mapping.
    @inlinable public func pointer(at offset: Int) -> UnsafeMutableRawPointer {
        base + offset
    }

    /// Makes `[address, address + length)` durable: flush, then drain (or msync).
    @inlinable public func persist(_ address: UnsafeRawPointer, _ length: Int) {
        if let cpuPath {
            cpuPath.persist(address, length)
        } else {
            msyncRange(address, length)
        }
    }

    /// Makes `length` bytes at `offset` durable.
    @inlinable public func persist(offset: Int, length: Int) {
        persist(UnsafeRawPointer(base + offset), length)
    }

    /// Writes back the cache lines of a range without waiting; pair with `drain()`.
    @inlinable public func flush(_ address: UnsafeRawPointer, _ length: Int) {
        if let cpuPath {
            cpuPath.flush(address, length)
        } else {
            msyncRange(address, length)
        }
    }

    /// Orders earlier flushes and non-temporal stores (`sfence`).
    @inlinable public func drain() {
        cpuPath?.drain()
    }

    /// Copies `count` bytes to `offset` and makes them durable (non-temporal stores for large copies).
    @inlinable public func copyPersist(toOffset offset: Int, from source: UnsafeRawPointer, count: Int) {
        if let cpuPath {
            cpuPath.copyPersist(to: base + offset, from: source, count: count)
        } else {
            (base + offset).copyMemory(from: source, byteCount: count)
            msyncRange(base + offset, count)
        }
    }

    /// Fills `count` bytes at `offset` with `value` and makes them durable.
    @inlinable public func setPersist(offset: Int, value: UInt8, count: Int) {
        if let cpuPath {
            cpuPath.setPersist(base + offset, value: value, count: count)
        } else {
            (base + offset).initializeMemory(as: UInt8.self, repeating: value, count: count)
            msyncRange(base + offset, count)
        }
    }

    /// Drains, then flushes the write pending queues of every region behind
    /// the mapping that has flush hints (`deep_flush: supported`); `msync`s
    /// a `file` backing. Returns the regions flushed.
    ///
    /// Throws the first msync failure of a `file` backing, this one's or an
    /// earlier `persist`'s (see `checkDurability()`), and a region's flush
    /// failure.
    @discardableResult
    public func deepFlush() throws -> [String] {
        drain()
        if backing == .file {
            msyncRange(base, size)
            try checkDurability()
            return []
        }
        for target in deepFlushTargets { try target.flush() }
        return deepFlushRegions
    }

    /// The mapping's bad bytes (media errors the kernel knows: `BadBlocks`), as
    /// ranges from its start; empty when none, or off PMem. Touching one faults
    /// (SIGBUS): read around them, or repair them first.
    public func badBlocks() throws -> [Range<Int>] {
        try BadBlocks.of(path: path).compactMap { range in
            let clipped = range.clamped(to: 0..<UInt64(size))
            return clipped.isEmpty ? nil : Int(clipped.lowerBound)..<Int(clipped.upperBound)
        }
    }

    /// Throws the first `msync` failure of this mapping (a `file` backing's
    /// `persist`, `flush`, `copyPersist`, `setPersist` or `deepFlush`), with
    /// its errno and the bytes it covered; returns when there was none. The
    /// failure stays: every later check throws it again, because the stores
    /// it covered may be lost however many later msyncs succeed. Backings
    /// with a CPU persist path never fail here.
    public func checkDurability() throws {
        if let failure = durabilityFailure { throw failure }
    }

    /// The first `msync` failure of this mapping, or `nil`; see `checkDurability()`.
    public var durabilityFailure: PMemError? { firstFailure.withLock { $0 } }

    /// msync of the pages covering a range; the slow path of `file` backings.
    /// A failure is kept, the first one only, for `checkDurability()`.
    @usableFromInline func msyncRange(_ address: UnsafeRawPointer, _ length: Int) {
        let page = Int(getpagesize())
        let start = Int(bitPattern: address) & ~(page - 1)
        let end = Int(bitPattern: address) + length
        guard msync(UnsafeMutableRawPointer(bitPattern: start), end - start, MS_SYNC) != 0 else { return }
        let code = errno
        let error = PMemError.system(
            "msync", errno: code,
            detail: "\(path): bytes \(start - Int(bitPattern: base))..<\(end - Int(bitPattern: base))")
        firstFailure.withLock { if $0 == nil { $0 = error } }
    }
}
