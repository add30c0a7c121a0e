import PMemKit

/// The bytes of an open pool and how stores on them are made durable.
///
/// The heap works on this rather than on `PMemMapping` directly so that the
/// checker can run the same recovery on a private copy-on-write view, where
/// nothing reaches the file and flushing is pointless.
final class PoolMemory: @unchecked Sendable {
    /// First byte of the pool in this process.
    let base: UnsafeMutableRawPointer
    /// Bytes of the pool.
    let size: Int
    /// Seed for this pool's checksums (from its UUID).
    let salt: UInt64
    /// CPU persist path; `nil` for msync backings and private views.
    let cpuPath: PersistPath?
    /// The mapping when durability comes from msync; also keeps the mapping alive.
    let mapping: PMemMapping?
    /// Unmaps a private view on deinit.
    private let unmap: (() -> Void)?
    /// Whether durability comes from msync (a `file` backing), and whether
    /// records and new objects are written with streaming stores (a CPU
    /// persist path, not traced): plain flags, so the commit path tests one
    /// byte instead of the optional persist path (whose strings a test of
    /// `cpuPath` may retain and release).
    private let syncsWithMsync: Bool
    let usesStreamingStores: Bool

    /// A pool on a PMem (or emulated) mapping.
    ///
    /// - Parameter persistPath: a path other than the mapping's (the traced
    ///   path of a store-reordering check); `nil`: the mapping's.
    init(mapping: PMemMapping, salt: UInt64, persistPath: PersistPath? = nil) {
        let path = persistPath ?? mapping.persistPath
        self.base = mapping.base
        self.size = mapping.size
        self.salt = salt
        self.cpuPath = path
        self.mapping = mapping
        self.unmap = nil
        self.syncsWithMsync = path == nil
        // A traced path sees every byte it makes durable through its flushes: no streaming stores then.
        self.usesStreamingStores = path != nil && !(path?.isTraced ?? false)
    }

    /// A private view: stores stay in this process and are never flushed.
    init(privateView base: UnsafeMutableRawPointer, size: Int, salt: UInt64, unmap: @escaping () -> Void) {
        self.base = base
        self.size = size
        self.salt = salt
        self.cpuPath = nil
        self.mapping = nil
        self.unmap = unmap
        self.syncsWithMsync = false
        self.usesStreamingStores = false
    }

    deinit { unmap?() }

    /// The base as an integer, for pointer arithmetic on swizzled values.
    var baseAddress: UInt64 { UInt64(UInt(bitPattern: base)) }

    /// Writes back the lines of a range, without waiting.
    @inline(__always) func flush(_ address: UnsafeRawPointer, _ length: Int) {
        if let cpuPath {
            cpuPath.flush(address, length)
        } else if let mapping {
            mapping.flush(address, length)
        }
    }

    /// Waits for earlier flushes (`sfence`).
    @inline(__always) func drain() {
        cpuPath?.drain()
    }

    /// Flush and drain.
    @inline(__always) func persist(_ address: UnsafeRawPointer, _ length: Int) {
        if let cpuPath {
            cpuPath.persist(address, length)
        } else if let mapping {
            mapping.persist(address, length)
        }
    }

    /// The flush function of the CPU path, for the C relocation loop; `nil`
    /// when the caller must make the whole range durable itself afterwards.
    var cFlushFunction: (@convention(c) (UnsafeRawPointer?, Int) -> Void)? {
        cpuPath?.cFlushFunction
    }

    /// Makes the whole pool durable (msync backings after bulk work). An
    /// msync failure stays in the mapping for `checkDurability()`.
    func syncAll() {
        if syncsWithMsync, let mapping { mapping.persist(mapping.base, mapping.size) }
    }

    /// Throws the mapping's first msync failure (a `file` backing's); the
    /// other backings flush with the CPU and have nothing to report.
    @inline(__always) func checkDurability() throws {
        if syncsWithMsync, let mapping { try mapping.checkDurability() }
    }
}
