import Foundation
import PMemKit

/// Where a pool is mapped when it is opened.
public enum HeapPlacement: Sendable, Equatable {
    /// At the base its pointers were written for when that range is free
    /// (no relocation), elsewhere otherwise.
    case recorded
    /// Wherever the kernel puts it.
    case anywhere
    /// At an address whose range overlaps none the pool's pointers may hold,
    /// so every pointer is relocated (tests, benchmarks).
    case differentFromRecorded
    /// At exactly this address (which must be free).
    case exactly(UInt)

    /// The placement `overrides` ask for (by default the process's):
    /// `PMEMKIT_HEAP_BASE=0x…` (exact), `PMEMKIT_HEAP_RELOCATE=1` (different
    /// from recorded), else `recorded`.
    public static func requested(by overrides: Overrides = .currentOrDefaults) -> HeapPlacement {
        if let address = overrides.address(.heapBase) { return .exactly(address) }
        return overrides.isSet(.heapRelocate) ? .differentFromRecorded : .recorded
    }
}

/// Progress of a relocation, reported while it runs and once at the end.
public struct RelocationProgress: Sendable {
    /// Slabs scanned so far.
    public var slabsDone: Int
    /// Slabs to scan.
    public var slabsTotal: Int
    /// Pointer fields rewritten so far.
    public var pointersMoved: UInt64
}

/// How to open a heap.
public struct HeapOpenOptions: Sendable {
    /// Where to map the pool; by default from the environment (see `HeapPlacement.requested(by:)`).
    public var placement: HeapPlacement
    /// Threads that relocate pointers in parallel; by default one per active core.
    public var relocationThreads: Int
    /// Called from time to time during a relocation (about every 100 ms), and at its end.
    public var progress: (@Sendable (RelocationProgress) -> Void)?
    /// Fail unless the backing is real PMem.
    public var requirePMem: Bool
    /// Keep the slabs read-only outside transactions (PMemProtect): a stray
    /// write is reported with the object it hit and never happens. By
    /// default `PMEMKIT_HEAP_GUARDED=1`.
    public var guarded: Bool
    /// What a plain file counts as (see `PMemMapping.PlainFilePolicy`); by
    /// default `PMEMKIT_FILE_BACKING`, else emulated PMem.
    public var plainFile: PMemMapping.PlainFilePolicy?
    /// What to do when the redo log holds a damaged committed record; by default refuse.
    public var damagedLog: DamagedLogPolicy
    /// What to do when a device under the pool had an unsafe shutdown while the
    /// pool was open; by default check the pool first.
    public var unsafeShutdown: UnsafeShutdownPolicy = .check
    /// What the open of a reachability pool after a crash does when its trace
    /// finds pointers that lead to no object; by default refuse.
    public var unresolvedPointers: UnresolvedPointerPolicy = .refuse
    /// Reads the devices' counts instead of the machine (tests).
    package var shutdownCounter: (@Sendable (String) -> [ShutdownCount])?
    /// A persist path other than the mapping's: the recording path of a
    /// store-reordering check (`PersistPath.traced`).
    package var persistPath: PersistPath?

    /// Options; the defaults suit applications.
    public init(
        placement: HeapPlacement = .requested(by: .currentOrDefaults),
        relocationThreads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (@Sendable (RelocationProgress) -> Void)? = nil, requirePMem: Bool = false,
        guarded: Bool = Overrides.currentOrDefaults.isSet(.heapGuarded),
        plainFile: PMemMapping.PlainFilePolicy? = nil, damagedLog: DamagedLogPolicy = .refuse
    ) {
        self.damagedLog = damagedLog
        self.placement = placement
        self.relocationThreads = max(1, relocationThreads)
        self.progress = progress
        self.requirePMem = requirePMem
        self.guarded = guarded
        self.plainFile = plainFile
    }
}

/// How a pool knows, after a crash, which objects are allocated (chosen at create).
public enum AllocationRecovery: String, Sendable, Equatable, CaseIterable {
    /// Every allocation and free is a redo-logged commit: the slab bitmaps are
    /// durable at every commit (format version 1, the default).
    case logged
    /// Allocation and free outside a transaction persist nothing (Ralloc's
    /// approach); an open after a crash traces from the root through the
    /// stored pointer maps and rebuilds the bitmaps: what nothing reaches is
    /// reclaimed. The contract: an object is kept only once a committed
    /// transaction links it from the root, and its bytes written outside a
    /// transaction are durable only after the allocating thread's next
    /// commit (or `PersistentHeap.persist`). Transactions keep their
    /// guarantees. A format version 2 pool: older builds refuse it.
    case reachability
}

/// How to create a heap.
public struct HeapCreateOptions: Sendable {
    /// Bytes per slab (power of two, 4K to 64M); default 64 KiB.
    public var slabSize: Int?
    /// How allocation state survives a crash (see `AllocationRecovery`); default `.logged`.
    public var recovery: AllocationRecovery = .logged
    /// The size the pool may grow to (`PersistentHeap.grow`); by default 16
    /// times its size, at most 1 TiB more.
    public var maxSize: Int?
    /// Types the pool can hold (1 to 4096, 512 bytes of type table each); by
    /// default one per MiB of the pool, from 128 to 4096.
    public var typeCapacity: Int?
    /// Bytes of redo log; by default 1/32 of the pool, between 256 KiB and 64 MiB.
    public var logSize: Int?
    /// Fail unless the backing is real PMem.
    public var requirePMem: Bool
    /// Keep the slabs read-only outside transactions (see `HeapOpenOptions.guarded`).
    public var guarded: Bool
    /// What a plain file counts as (see `PMemMapping.PlainFilePolicy`); by
    /// default `PMEMKIT_FILE_BACKING`, else emulated PMem.
    public var plainFile: PMemMapping.PlainFilePolicy?
    /// A persist path other than the mapping's (see `HeapOpenOptions.persistPath`).
    package var persistPath: PersistPath?

    /// Options; the defaults suit most pools.
    public init(
        slabSize: Int? = nil, logSize: Int? = nil, requirePMem: Bool = false,
        guarded: Bool = Overrides.currentOrDefaults.isSet(.heapGuarded),
        plainFile: PMemMapping.PlainFilePolicy? = nil, recovery: AllocationRecovery = .logged,
        maxSize: Int? = nil, typeCapacity: Int? = nil
    ) {
        self.recovery = recovery
        self.maxSize = maxSize
        self.typeCapacity = typeCapacity
        self.slabSize = slabSize
        self.logSize = logSize
        self.requirePMem = requirePMem
        self.guarded = guarded
        self.plainFile = plainFile
    }
}

/// What opening a heap did, for tools and tests.
public struct OpenReport: Sendable, Equatable {
    /// The pool was not closed cleanly last time.
    public var recoveredFromCrash: Bool
    /// Committed transactions replayed from the redo log.
    public var replayedTransactions: Int
    /// Whether pointers were relocated (base changed, or an interrupted relocation finished).
    public var relocated: Bool
    /// The bases pointers were moved from.
    public var relocatedFrom: [UInt64]
    /// The base the pool is mapped at now.
    public var base: UInt64
    /// Objects visited and pointer fields rewritten by the relocation.
    public var relocation: RelocationStats?
    /// The reachability trace that rebuilt the bitmaps (a reachability pool
    /// opened after a crash; it also moves pointers when the pool moved).
    public var trace: TraceStats?
    /// Damage found in the redo log (only when `HeapOpenOptions.damagedLog`
    /// accepted it; otherwise the open threw).
    public var logDamage: [RedoLogDamage] = []
    /// Intact committed transactions dropped because they followed damage.
    public var discardedTransactions = 0
    /// An unsafe shutdown of a device under the pool while it was open, when
    /// one happened (see `UnsafeShutdown`).
    public var unsafeShutdown: UnsafeShutdown?
    /// The devices under the pool and their unsafe-shutdown counts now (empty off PMem,
    /// or where the devices count nothing); recorded in the pool for the next open.
    public var shutdownCounts: [ShutdownCount] = []
}

/// What the open of a reachability pool after a crash does when the trace
/// finds pointers that lead to no object (damage, or a program's dangling pointer).
public enum UnresolvedPointerPolicy: Sendable, Equatable {
    /// Refuse to open (the default), leaving the allocation state as it is:
    /// objects only such pointers reached may be live.
    case refuse
    /// Rebuild from what the trace reached: anything else is reclaimed.
    case reclaimUnreached
}

/// What `open` does when the redo log holds a damaged committed record.
public enum DamagedLogPolicy: Sendable, Equatable {
    /// Refuse to open, changing nothing (the default): the transactions are
    /// lost only if the caller decides so, and a replica may still hold them.
    case refuse
    /// Replay the transactions before the first damaged one and drop it and
    /// every later one. The pool is then consistent as of that transaction
    /// only if none of the later ones reached the pool in place; run
    /// `HeapChecker` afterwards.
    case discardFromFirstLoss
}

/// Counts from one relocation.
public struct RelocationStats: Sendable, Equatable {
    /// Allocated objects visited.
    public var objects: UInt64
    /// Non-null pointer fields seen.
    public var pointers: UInt64
    /// Pointer fields rewritten.
    public var moved: UInt64
    /// Pointer fields pointing outside every range the pool was ever at (left alone).
    public var outside: UInt64
    /// Bytes of slabs scanned.
    public var bytesScanned: UInt64
    /// Wall time of the scan.
    public var seconds: Double
    /// Threads that scanned.
    public var threads: Int
}
