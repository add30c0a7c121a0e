import Foundation
import PMemKit
package import PMemProtect

/// A persistent heap on a `PMemMapping`: typed slabs, native pointers that
/// are swizzled when the pool moves, failure-atomic transactions.
///
/// ```swift
/// let heap = try PersistentHeap.create(path: "/mnt/pmem/pool", size: 64 << 20)
/// let nodes = try heap.register(Node.self)
/// try heap.transaction { tx in
///     let node = try tx.allocate(nodes, Node(value: 1, next: .null))
///     try tx.setRoot(node)
/// }
/// try heap.close()
/// ```
///
/// Thread-safe: allocation, transactions and frees may run on any number of
/// threads (each thread allocates from its own slab of each type).
public final class PersistentHeap: @unchecked Sendable {
    /// The pool file or device.
    public let path: String
    let pool: PoolMemory
    let identity: PoolIdentity
    let allocator: SlabAllocator
    let log: RedoLog
    /// What opening did: recovery, replay, relocation.
    public let openReport: OpenReport
    /// How the pool knows after a crash what is allocated (chosen at create).
    public let recovery: AllocationRecovery
    @exclusivity(unchecked) private(set) var observers: [(CommittedTransaction) -> Void] = []
    /// Observers called before the commit's fence (`addFenceObserver`), unretained: a
    /// trivial buffer the commit path reads with no reference counting.
    @exclusivity(unchecked) private(set) var fenceObservers = UnsafeMutableBufferPointer<
        Unmanaged<FenceObserverBox>
    >(start: nil, count: 0)
    /// Keeps the fence observers alive.
    private var fenceObserverOwners: [FenceObserverBox] = []
    /// Whether any observer is registered (read on every commit without touching the array).
    @exclusivity(unchecked) private(set) var hasObservers = false
    @exclusivity(unchecked) private(set) var hasFenceObservers = false

    private var transactions: [Transaction] = []
    /// What an idle transaction points at as its context (kept alive here).
    private var idleContext: ThreadContext?
    private let registryLock = NSLock()
    private var typeIDsByName: [String: UInt32] = [:]
    private var typeIDsBySwiftType: [ObjectIdentifier: UInt32] = [:]
    private var typeCount: Int
    private var state: PoolState
    private var stateSlot: Int
    private var contextKey = pthread_key_t()
    private var contexts: [ThreadContext] = []
    private var closed = false
    private let lockDescriptor: Int32
    /// Reads the unsafe-shutdown counts of the devices under the pool (recorded again at close).
    var shutdownCounter: @Sendable (String) -> [ShutdownCount] = PersistentHeap.machineShutdownCounts
    /// Guarded mode: keeps the slabs read-only outside transactions
    /// (`PersistentHeap+Guard.swift`); `package`, so PMemProtect's types stay
    /// out of the heap's public API (`isGuarded` is the public question).
    package internal(set) var pageGuard: PageGuard?

    /// Whether the slabs are read-only outside transactions (guarded mode).
    public var isGuarded: Bool { pageGuard != nil }

    /// The pool's UUID.
    public var uuid: UUID { identity.uuid }
    /// The pool's state generation while this heap has it open: replication
    /// records it, and `PoolCommitProbe` shows another once the pool was
    /// closed or opened again.
    package var openGeneration: UInt64 { state.generation }
    /// Where the regions of the pool lie.
    public var geometry: PoolGeometry { identity.geometry }
    /// First byte of the pool in this process: the base pointers are written for.
    public var base: UnsafeMutableRawPointer { pool.base }
    /// The mapping's backing (`pmem`, `emulated`, `file`).
    public var backing: PMemMapping.Backing? { pool.mapping?.backing }

    init(
        path: String, pool: PoolMemory, snapshot: PoolSnapshot, state: PoolState, stateSlot: Int,
        report: OpenReport,
        lockDescriptor: Int32
    ) {
        self.path = path
        self.pool = pool
        self.identity = snapshot.identity
        self.recovery = snapshot.identity.features.contains(.reachability) ? .reachability : .logged
        self.state = state
        self.stateSlot = stateSlot
        self.openReport = report
        self.lockDescriptor = lockDescriptor
        self.typeCount = snapshot.types.count
        allocator = SlabAllocator(
            pool: pool, geometry: snapshot.geometry, slabTypes: snapshot.slabTypes,
            continued: snapshot.continued)
        log = RedoLog(pool: pool, geometry: snapshot.geometry, checkpoint: snapshot.checkpoint)
        for stored in snapshot.types {
            install(stored.description, id: stored.id)
        }
        allocator.loadAll()
        let placeholder = ThreadContext(typeCapacity: 0, laneHint: 0)
        idleContext = placeholder
        transactions = log.lanes.map { Transaction(heap: self, lane: $0, context: placeholder) }
        pthread_key_create(&contextKey) { raw in
            guard let raw else { return }
            let context = Unmanaged<ThreadContext>.fromOpaque(raw).takeUnretainedValue()
            context.owner?.retire(context)
        }
    }

    deinit {
        try? close()
        fenceObservers.deallocate()
    }

    // MARK: Types

    /// Registers a Swift type (or checks it against the pool's copy) and
    /// returns the handle `allocate` takes.
    ///
    /// Throws `invalidArgument` naming the type when its layout differs from
    /// the one stored in the pool; nothing is written then.
    @discardableResult
    public func register<T: PersistentType>(_ type: T.Type) throws -> TypeHandle<T> {
        let id = try register(T.typeDescription())
        registryLock.lock()
        typeIDsBySwiftType[ObjectIdentifier(type)] = id
        registryLock.unlock()
        return TypeHandle(id: id)
    }

    /// Registers a type described by offsets (C types, the analyzer's output); returns its id.
    @discardableResult
    public func register(_ description: TypeDescription) throws -> UInt32 {
        try description.validate()
        registryLock.lock()
        defer { registryLock.unlock() }
        try ensureOpen()
        if let id = typeIDsByName[description.name] {
            let stored = allocator.types[Int(id)]!.description
            guard stored.layoutHash == description.layoutHash else {
                throw PMemError(
                    .invalidArgument, operation: "register type",
                    detail:
                        "type '\(description.name)' changed: the pool stores size \(stored.size), alignment "
                        + "\(stored.alignment), pointer offsets \(stored.pointerOffsets); the program declares size "
                        + "\(description.size), alignment \(description.alignment), pointer offsets "
                        + "\(description.pointerOffsets)")
            }
            return id
        }
        guard
            let layout = SlabLayout(
                stride: description.stride, alignment: description.alignment, slabSize: geometry.slabSize),
            layout.slabsPerObject <= geometry.slabCount
        else {
            throw PMemError(
                .invalidArgument, operation: "register type",
                detail: "type '\(description.name)' (\(description.size) bytes) is larger than the pool's "
                    + "\(geometry.slabCount) slabs of \(geometry.slabSize) bytes")
        }
        guard typeCount < geometry.typeCapacity else {
            throw PMemError(
                .invalidArgument, operation: "register type",
                detail: "the type table is full (\(geometry.typeCapacity) types)")
        }
        allocator.slabLock.lock()
        defer { allocator.slabLock.unlock() }
        TypeTable.append(description, index: typeCount, pool: pool, geometry: geometry)
        typeCount += 1
        let id = UInt32(typeCount)
        install(description, id: id)
        return id
    }

    private func install(_ description: TypeDescription, id: UInt32) {
        let layout = SlabLayout(
            stride: description.stride, alignment: description.alignment, slabSize: geometry.slabSize)!
        allocator.types[Int(id)] = TypeRuntime(id: id, description: description, layout: layout)
        allocator.layouts[Int(id)] = layout
        typeIDsByName[description.name] = id
    }

    /// The handle of a Swift type, registering it on first use.
    @usableFromInline func handle<T: PersistentType>(for type: T.Type) throws -> TypeHandle<T> {
        registryLock.lock()
        let id = typeIDsBySwiftType[ObjectIdentifier(type)]
        registryLock.unlock()
        if let id { return TypeHandle(id: id) }
        return try register(type)
    }

    /// The types stored in the pool, in id order.
    public var types: [TypeDescription] {
        registryLock.lock()
        defer { registryLock.unlock() }
        return (1...max(typeCount, 1)).compactMap { allocator.types[$0]?.description }
    }

    // MARK: Root

    /// The root object, typed; null when none is set. Throws when the root is of another type.
    public func root<T>(_ type: TypeHandle<T>) throws -> PersistentPointer<T> {
        let (address, typeID) = rootLine()
        guard address != 0 else { return .null }
        guard typeID == type.id else {
            let name = allocator.types[Int(typeID)]?.description.name ?? "id \(typeID)"
            throw PMemError(.invalidArgument, operation: "root", detail: "the root is of type '\(name)'")
        }
        return PersistentPointer(UnsafeMutablePointer(bitPattern: UInt(address)))
    }

    /// The root object of a registered Swift type; null when none is set.
    public func root<T: PersistentType>(_ type: T.Type) throws -> PersistentPointer<T> {
        try root(handle(for: type))
    }

    /// The root's address and type id (0 when none).
    public func rootLine() -> (address: UInt64, typeID: UInt32) {
        let line = HeapFormat.rootLine(at: pool.base)
        return (line.pointer, UInt32(truncatingIfNeeded: line.typeID))
    }

    // MARK: Transactions

    /// Runs `body` as one failure-atomic transaction. If `body` throws,
    /// nothing it did reaches the pool and the error is rethrown.
    ///
    /// On a `file` backing (msync), a commit whose msync failed, or that
    /// follows one that did, throws that failure after the commit: its
    /// changes are in the pool as this process sees it, but the file may
    /// not hold them (`PMemMapping.checkDurability()`).
    @discardableResult
    public func transaction<R>(_ body: (Transaction) throws -> R) throws -> R {
        let tx = try beginTransaction()
        let result: R
        do {
            result = try body(tx)
        } catch {
            abortTransaction(tx)
            throw error
        }
        try commitTransaction(tx)
        return result
    }

    /// Begins a transaction on this thread, for callers that cannot pass a
    /// closure (the C API): it holds a lane until `commitTransaction` or
    /// `abortTransaction`, which the same thread must call.
    package func beginTransaction() throws -> Transaction {
        let context = try self.context()
        guard !context.inTransaction else {
            throw PMemError(.invalidArgument, operation: "transaction", detail: "transactions do not nest")
        }
        // Guarded mode: the slabs are writable for this transaction's duration only.
        try pageGuard?.beginWrites()
        context.inTransaction = true
        let lane = log.acquireLane(hint: context.laneHint)
        let tx = transactions[lane.index]
        tx.begin(lane: lane, context: context)
        return tx
    }

    /// Commits a transaction from `beginTransaction` and ends it; if the
    /// commit fails, nothing it did reaches the pool. See `transaction` for
    /// a `file` backing's msync failures.
    package func commitTransaction(_ tx: Transaction) throws {
        do {
            try tx.commit()
        } catch {
            abortTransaction(tx)
            throw error
        }
        endTransaction(tx)
        try pool.checkDurability()
    }

    /// Drops everything a transaction from `beginTransaction` did and ends it.
    package func abortTransaction(_ tx: Transaction) {
        tx.abort()
        endTransaction(tx)
    }

    private func endTransaction(_ tx: Transaction) {
        tx.lane.release()
        tx.context.inTransaction = false
        try? pageGuard?.endWrites()
    }

    /// Allocates a zero-filled object on its own (one small transaction; in a
    /// reachability pool, nothing persisted: see `AllocationRecovery`).
    /// Until a pointer to it is stored in the heap it is reachable from
    /// nowhere: prefer `Transaction.allocate` to link it in the same commit.
    public func allocate<T>(_ type: TypeHandle<T>) throws -> PersistentPointer<T> {
        if allocatesUnlogged {
            return PersistentPointer(
                try allocateUnlogged(typeID: type.id, size: MemoryLayout<T>.size).assumingMemoryBound(
                    to: T.self))
        }
        return try transaction { tx in
            let raw = try tx.allocateSlot(typeID: type.id, size: MemoryLayout<T>.size)
            try tx.zeroFresh(raw, MemoryLayout<T>.size)
            return PersistentPointer(raw.assumingMemoryBound(to: T.self))
        }
    }

    /// Frees an object on its own (one small transaction; in a reachability
    /// pool, nothing persisted: unlink it in a committed transaction first).
    public func free<T>(_ object: PersistentPointer<T>) throws {
        if allocatesUnlogged {
            guard let raw = object.rawAddress else { throw Transaction.nullPointer("free") }
            return try freeUnlogged(raw)
        }
        try transaction { try $0.free(object) }
    }

    /// Calls `observer` with every transaction committed from now on, on the
    /// committing thread, right after the commit point. Add observers before
    /// transactions start. (An observer whose stores should share the
    /// commit's fence is a `FenceObserver`: `addFenceObserver`.)
    public func addObserver(_ observer: @escaping (CommittedTransaction) -> Void) {
        registryLock.lock()
        observers.append(observer)
        hasObservers = true
        registryLock.unlock()
    }

    /// Calls `observer` with every transaction committed from now on, on the
    /// committing thread, once its record is sealed and before the heap
    /// streams it and issues the commit's fence, so the observer's own
    /// non-temporal stores and flushes can share that fence
    /// (`CommittedTransaction.fenceFollows` says whether one follows). The
    /// heap keeps `observer` alive and calls it with no reference counting.
    /// Add observers before transactions start.
    public func addFenceObserver<Observer: FenceObserver>(_ observer: Observer) {
        let box = TypedFenceObserverBox(observer)
        registryLock.lock()
        fenceObserverOwners.append(box)
        let grown = UnsafeMutableBufferPointer<Unmanaged<FenceObserverBox>>.allocate(
            capacity: fenceObserverOwners.count)
        for (index, owner) in fenceObserverOwners.enumerated() {
            (grown.baseAddress! + index).initialize(to: .passUnretained(owner))
        }
        fenceObservers.deallocate()
        fenceObservers = grown
        hasFenceObservers = true
        registryLock.unlock()
    }

    /// A slot from this thread's cache (`SlabAllocator.take`). When the heap is
    /// full, the slots and slabs this thread freed may still wait for the
    /// checkpoint (`Quarantine`): it is moved past them and the allocation tried once more.
    @inline(__always) func takeSlot(
        typeID: UInt32, cache: UnsafeMutablePointer<SlabCache>, context: ThreadContext
    )
        throws -> (slab: Int, slot: Int)
    {
        do {
            return try allocator.take(typeID: typeID, cache: cache)
        } catch let error as PMemError where error.errno == ENOSPC && context.quarantine.count > 0 {
            log.advanceCheckpoint(through: context.quarantine.newest)
            context.quarantine.release(upTo: log.checkpointValue, to: allocator)
            return try allocator.take(typeID: typeID, cache: cache)
        }
    }

    // MARK: Threads

    /// This thread's context, made on first use.
    @inline(__always) func context() throws -> ThreadContext {
        if let raw = pthread_getspecific(contextKey) {
            return Unmanaged<ThreadContext>.fromOpaque(raw).takeUnretainedValue()
        }
        return try makeContext()
    }

    private func makeContext() throws -> ThreadContext {
        registryLock.lock()
        defer { registryLock.unlock() }
        try ensureOpen()
        let context = ThreadContext(typeCapacity: geometry.typeCapacity, laneHint: contexts.count)
        context.owner = self
        contexts.append(context)
        pthread_setspecific(contextKey, Unmanaged.passUnretained(context).toOpaque())
        return context
    }

    /// A thread ended: its caches go back to the allocator.
    func retire(_ context: ThreadContext) {
        registryLock.lock()
        defer { registryLock.unlock() }
        guard !closed, let index = contexts.firstIndex(where: { $0 === context }) else { return }
        log.advanceCheckpoint(through: context.quarantine.newest)
        context.unflushed.flush(pool)
        pool.drain()
        context.drain(into: allocator)
        contexts.remove(at: index)
    }

    private func ensureOpen() throws {
        guard !closed else {
            throw PMemError(.invalidArgument, operation: "heap", detail: "\(path) is closed")
        }
    }

    // MARK: Close

    /// Makes every committed change durable, moves the checkpoint past all of
    /// them, and marks the pool cleanly shut down. No thread may use the heap
    /// during or after `close`. Throws a `file` backing's msync failure
    /// (the pool is closed all the same).
    public func close() throws {
        registryLock.lock()
        defer { registryLock.unlock() }
        guard !closed else { return }
        pageGuard = nil
        pthread_key_delete(contextKey)
        log.advanceCheckpoint(through: log.lastSequence)
        for context in contexts {
            context.unflushed.flush(pool)
            context.drain(into: allocator)
        }
        contexts.removeAll()
        allocator.returnEmptySlabs()
        // A reachability pool's bitmaps changed in place, unflushed: the clean mark below says they are exact.
        if recovery == .reachability { persistBitmaps() }
        // The counts first: a crash between the two writes leaves the pool open with
        // counts that are current, which is what the next open compares with.
        let counts = shutdownCounter(path)
        let recorded = ShutdownRecord.read(from: pool.base, salt: pool.salt)
        if !counts.isEmpty || recorded != nil { ShutdownRecord.write(counts, after: recorded, pool: pool) }
        state.generation += 1
        state.cleanShutdown = true
        state.write(into: pool, replacing: stateSlot)
        stateSlot = 1 - stateSlot
        closed = true
        Foundation.close(lockDescriptor)
        try pool.checkDurability()
    }
}
