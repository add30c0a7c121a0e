import Foundation
@_spi(CrashPoints) import PMemKit

/// What a grow or shrink did (`pmemctl heap grow`, `heap shrink`).
public struct ResizeReport: Sendable, Equatable, Encodable {
    /// The pool file or device.
    public var path: String
    /// Bytes of the pool before.
    public var oldSize: Int
    /// Bytes of the pool after.
    public var newSize: Int
    /// Slabs before.
    public var oldSlabs: Int
    /// Slabs after.
    public var newSlabs: Int
    /// The most slabs the pool's slab directory has room for (the limit of a grow).
    public var slabCapacity: Int
    /// Bytes per slab.
    public var slabSize: Int

    enum CodingKeys: String, CodingKey {
        case path
        case oldSize = "old_size"
        case newSize = "new_size"
        case oldSlabs = "old_slabs"
        case newSlabs = "new_slabs"
        case slabCapacity = "slab_capacity"
        case slabSize = "slab_size"
    }
}

/// Growing and shrinking a closed pool.
///
/// The geometry lives in the identity block, 256 checksummed bytes that no
/// single store updates, so a resize installs a new one in three persisted
/// steps: the new block into the header's resize slot, then over the
/// identity block, then the slot cleared. A reader takes a valid slot as the
/// pool's identity (`PoolIdentity.read`) and the next open rolls it forward
/// (`finishInterrupted`), so a crash at any step leaves either the old pool or
/// the new one. A grow extends the file (and zeroes the new slabs' directory
/// words) before the slot is written; a shrink truncates the file after the
/// slot is cleared, so no step ever names bytes that are not there.
enum PoolResize {
    /// Rolls forward a resize a crash interrupted: a valid resize slot is
    /// copied over the identity block; a torn one (the crash came while it was
    /// written, before the identity block was touched) is dropped. Run by
    /// `open` on the header it read; returns whether it wrote (the header must
    /// then be read again).
    static func finishInterrupted(
        path: String, header: UnsafeRawPointer, plainFile: PMemMapping.PlainFilePolicy?
    ) throws -> Bool {
        guard PoolIdentity.resizeSlotInUse(header) else { return false }
        let mapping = try PMemMapping(path: path, options: .init(plainFile: plainFile))
        let base = mapping.base
        let slot = base + PoolIdentity.resizeSlotOffset
        if let installing = try? PoolIdentity.decode(slot, fileSize: mapping.size, path: path) {
            installing.write(to: base)
            mapping.persist(base, HeapFormat.identitySize)
        } else if (try? PoolIdentity.decode(base, fileSize: mapping.size, path: path)) == nil {
            // Neither block is valid: a damaged pool, which the open reports with nothing written.
            return false
        }
        slot.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.identitySize)
        mapping.persist(slot, HeapFormat.identitySize)
        try mapping.checkDurability()
        return true
    }

    /// Installs `identity` over the pool mapped at `mapping` in the three steps above.
    static func install(_ identity: PoolIdentity, in mapping: PMemMapping) throws {
        let base = mapping.base
        let slot = base + PoolIdentity.resizeSlotOffset
        identity.write(to: slot)
        mapping.persist(slot, HeapFormat.identitySize)
        CrashPoints.reach("heap.resize.slot-written")
        identity.write(to: base)
        mapping.persist(base, HeapFormat.identitySize)
        CrashPoints.reach("heap.resize.identity-written")
        slot.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.identitySize)
        mapping.persist(slot, HeapFormat.identitySize)
        try mapping.checkDurability()
    }

    /// The most slabs the directory of `geometry` has room for.
    static func slabCapacity(_ geometry: PoolGeometry) -> Int {
        (geometry.logOffset - geometry.slabDirectoryOffset) / 8
    }
}

extension PersistentHeap {
    /// Grows the pool at `path` (closed; no process may have it open) to `size`
    /// bytes: the file is extended (a device must already be that large) and
    /// the new bytes become slabs. Any committed transactions are recovered
    /// first (the pool is opened and closed). Crash-safe at every step.
    ///
    /// Throws `invalidArgument` with nothing changed when `size` is not larger,
    /// adds no whole slab, exceeds the device or the slab directory's room
    /// (`HeapCreateOptions.maxSize` at create).
    public static func grow(path: String, to size: Int, options: HeapOpenOptions = HeapOpenOptions())
        throws -> ResizeReport
    {
        try open(path: path, options: options).close()
        let lock = try lockPool(path)
        defer { Foundation.close(lock) }
        let before = try PMemMapping(path: path, options: .init(plainFile: options.plainFile))
        let snapshot = try PoolSnapshot.load(base: before.base, fileSize: before.size, path: path)
        let g = snapshot.geometry
        let capacity = PoolResize.slabCapacity(g)
        func refuse(_ why: String) -> PMemError {
            PMemError(
                .invalidArgument, operation: "heap grow", detail: "\(path): \(why); nothing was changed")
        }
        guard size > g.poolSize else {
            throw refuse("\(size) bytes is not larger than the pool's \(g.poolSize) (use `heap shrink`)")
        }
        guard size <= PoolGeometry.maximumValue else { throw refuse("\(size) bytes is out of range") }
        let slabs = (size - g.slabsOffset) / g.slabSize
        guard slabs > g.slabCount else {
            throw refuse("\(size) bytes adds no whole slab of \(g.slabSize) bytes")
        }
        guard slabs <= capacity else {
            throw refuse(
                "\(size) bytes needs \(slabs) slabs but the slab directory has room for \(capacity) "
                    + "(at most \(g.slabsOffset + capacity * g.slabSize) bytes; create pools with a larger "
                    + "--max-size to grow further)")
        }
        if try isRegularFile(path) {
            try extend(path, to: size)
        } else {
            guard size <= before.size else {
                throw refuse("\(size) bytes is more than the device's \(before.size)")
            }
        }
        var grown = snapshot.identity
        grown.geometry.poolSize = size
        grown.geometry.slabCount = slabs
        // The directory and the header lie before the first slab: the mapping
        // of the old size reaches every byte a grow writes.
        // New slabs start free: their directory words may hold whatever the device had.
        let words = before.base + g.slabDirectoryOffset + g.slabCount * 8
        words.initializeMemory(as: UInt8.self, repeating: 0, count: (slabs - g.slabCount) * 8)
        before.persist(words, (slabs - g.slabCount) * 8)
        CrashPoints.reach("heap.resize.directory-cleared")
        try PoolResize.install(grown, in: before)
        return ResizeReport(
            path: path, oldSize: g.poolSize, newSize: size, oldSlabs: g.slabCount, newSlabs: slabs,
            slabCapacity: capacity, slabSize: g.slabSize)
    }

    /// Shrinks the pool file at `path` (closed) to `size` bytes, or to the
    /// smallest size that keeps every slab in use when `size` is nil: the free
    /// slabs at its end are dropped and the file truncated. Empty slabs go back
    /// to the free slabs at every close, so freeing the objects at the end of a
    /// pool lets it shrink. Crash-safe at every step.
    ///
    /// Throws `invalidArgument` with nothing changed when `size` would drop a
    /// slab in use (naming it and the smallest size), or for a device.
    public static func shrink(path: String, to size: Int? = nil, options: HeapOpenOptions = HeapOpenOptions())
        throws -> ResizeReport
    {
        try open(path: path, options: options).close()
        let lock = try lockPool(path)
        defer { Foundation.close(lock) }
        func refuse(_ why: String) -> PMemError {
            PMemError(
                .invalidArgument, operation: "heap shrink", detail: "\(path): \(why); nothing was changed")
        }
        guard try isRegularFile(path) else {
            throw refuse("a device's size is its namespace's: only a pool file shrinks")
        }
        var report: ResizeReport?
        do {  // the mapping ends before the file is truncated
            let mapping = try PMemMapping(path: path, options: .init(plainFile: options.plainFile))
            let snapshot = try PoolSnapshot.load(base: mapping.base, fileSize: mapping.size, path: path)
            let g = snapshot.geometry
            // A large object's continuation slabs are in use too.
            let used =
                (snapshot.slabTypes.indices.last { snapshot.slabTypes[$0] != 0 || snapshot.continued[$0] }
                    ?? -1) + 1
            var owner = used - 1
            while owner > 0 && snapshot.slabTypes[owner] == 0 { owner -= 1 }
            let smallest = g.slabsOffset + max(used, 1) * g.slabSize
            let target = size ?? smallest
            let slabs = target >= g.slabsOffset ? (target - g.slabsOffset) / g.slabSize : 0
            guard slabs >= max(used, 1) else {
                guard used > 0 else {
                    throw refuse(
                        "\(target) bytes leaves no room for a slab; the smallest size is \(smallest)")
                }
                let name =
                    snapshot.types.first { $0.id == snapshot.slabTypes[owner] }?.description.name ?? "?"
                throw refuse(
                    "\(target) bytes would drop slab \(used - 1), which holds '\(name)' objects; "
                        + "the smallest size is \(smallest)")
            }
            guard target < g.poolSize else {
                throw refuse("\(target) bytes is not smaller than the pool's \(g.poolSize) (use `heap grow`)")
            }
            var shrunk = snapshot.identity
            shrunk.geometry.poolSize = target
            shrunk.geometry.slabCount = slabs
            try PoolResize.install(shrunk, in: mapping)
            report = ResizeReport(
                path: path, oldSize: g.poolSize, newSize: target, oldSlabs: g.slabCount, newSlabs: slabs,
                slabCapacity: PoolResize.slabCapacity(g), slabSize: g.slabSize)
        }
        guard let report else { throw refuse("the pool could not be read") }
        CrashPoints.reach("heap.resize.before-truncate")
        try truncate(path, to: report.newSize)
        return report
    }

    private static func isRegularFile(_ path: String) throws -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { throw PMemError.system("stat", errno: errno, detail: path) }
        return st.st_mode & S_IFMT == S_IFREG
    }

    /// Extends a pool file to `size` bytes (zeros) and makes the new size durable.
    private static func extend(_ path: String, to size: Int) throws {
        let fd = Foundation.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        defer { Foundation.close(fd) }
        let error = posix_fallocate(fd, 0, off_t(size))
        guard error == 0 else {
            throw PMemError(
                .system, operation: "heap grow", errno: error,
                detail: "\(path): cannot extend to \(size) bytes; nothing was changed")
        }
        guard fsync(fd) == 0 else { throw PMemError.system("fsync", errno: errno, detail: path) }
    }

    private static func truncate(_ path: String, to size: Int) throws {
        let fd = Foundation.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        defer { Foundation.close(fd) }
        guard ftruncate(fd, off_t(size)) == 0, fsync(fd) == 0 else {
            throw PMemError.system("truncate", errno: errno, detail: path)
        }
    }
}
