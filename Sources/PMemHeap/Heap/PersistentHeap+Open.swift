import Foundation
@_spi(CrashPoints) import PMemKit

extension PersistentHeap {
    /// Creates a pool of `size` bytes at `path` (a new file, or a DAX device)
    /// and opens it, with `types` registered.
    ///
    /// All or nothing: when anything fails after the file was made (a type
    /// that cannot be registered, a failed msync), the file is removed (only
    /// a file this call made; a device is left as it was) and every
    /// descriptor is closed, so the call can simply be made again.
    public static func create(
        path: String, size: Int, options: HeapCreateOptions = HeapCreateOptions(),
        types: [TypeDescription] = []
    ) throws -> PersistentHeap {
        let geometry = try PoolGeometry.plan(
            poolSize: size, slabSize: options.slabSize, logSize: options.logSize, maxSize: options.maxSize,
            typeCapacity: options.typeCapacity)
        for type in types { try type.validate() }
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG {
            throw PMemError(.busy, operation: "heap create", errno: EEXIST, detail: "\(path) already exists")
        }
        let mapping = try PMemMapping(
            path: path,
            options: .init(
                size: size, create: true, plainFile: options.plainFile, requirePMem: options.requirePMem))
        var lock: Int32 = -1
        var heap: PersistentHeap?
        do {
            lock = try lockPool(path)
            let identity = PoolIdentity(
                uuid: UUID(), geometry: geometry,
                features: options.recovery == .reachability ? .reachability : [])
            let pool = PoolMemory(mapping: mapping, salt: identity.salt, persistPath: options.persistPath)
            format(pool, identity: identity)
            try pool.checkDurability()
            let snapshot = try PoolSnapshot.load(base: pool.base, fileSize: mapping.size, path: path)
            let report = OpenReport(
                recoveredFromCrash: false, replayedTransactions: 0, relocated: false, relocatedFrom: [],
                base: pool.baseAddress, relocation: nil)
            heap = PersistentHeap(
                path: path, pool: pool, snapshot: snapshot, state: snapshot.state,
                stateSlot: snapshot.stateSlot,
                report: report, lockDescriptor: lock)
            lock = -1  // the heap owns it now; close() closes it
            for type in types { try heap!.register(type) }
            if options.guarded { try heap!.guardSlabs() }
            return heap!
        } catch {
            if let heap { try? heap.close() }
            if lock >= 0 { Foundation.close(lock) }
            if mapping.createdFile { unlink(path) }
            throw error
        }
    }

    /// Writes an empty pool: metadata first, the identity block last, so a
    /// crash while creating leaves something that is not mistaken for a pool.
    private static func format(_ pool: PoolMemory, identity: PoolIdentity) {
        let g = identity.geometry
        pool.base.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.headerSize)
        (pool.base + g.slabDirectoryOffset).initializeMemory(
            as: UInt8.self, repeating: 0, count: g.slabCount * 8)
        pool.flush(pool.base + g.slabDirectoryOffset, g.slabCount * 8)
        MirroredCounter.store(
            0, pool.base, primary: HeapFormat.typeCountOffset, mirror: HeapFormat.typeCountMirrorOffset,
            salt: pool.salt)
        MirroredCounter.store(
            0, pool.base, primary: HeapFormat.checkpointOffset, mirror: HeapFormat.checkpointMirrorOffset,
            salt: pool.salt)
        pool.persist(pool.base, HeapFormat.headerSize)
        PoolState(generation: 1, cleanShutdown: false, bases: [pool.baseAddress]).write(
            into: pool, replacing: 1)
        identity.write(to: pool.base)
        pool.persist(pool.base, HeapFormat.identitySize)
    }

    /// Opens the pool at `path`.
    ///
    /// Validation comes first, on a read-only mapping: a damaged pool, or a
    /// program type whose layout differs from the stored one, is reported with
    /// nothing written. Then the pool is mapped (at its recorded base when
    /// that range is free), committed transactions left in the redo log are
    /// replayed, and pointers are relocated if the base changed or an earlier
    /// relocation was interrupted.
    public static func open(
        path: String, types: [TypeDescription] = [], options: HeapOpenOptions = HeapOpenOptions()
    ) throws -> PersistentHeap {
        // Reading a bad byte faults: the kernel's list is consulted before any is read.
        if let damage = try MediaDamage.find(path: path) {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail:
                    "\(path) has bad media: \(damage.summary); opening it would read poison. "
                    + "`pmemctl heap check` names what is damaged, `--recover` clears it")
        }
        let lock = try lockPool(path)
        var locked = true
        defer { if locked { Foundation.close(lock) } }
        // The header says where the pool wants to be mapped; everything else is
        // validated on the final mapping, before the first store to it.
        let header = try readHeader(path, plainFile: options.plainFile)
        let mapping = try BasePlacement.map(
            path: path, geometry: header.geometry, bases: header.bases, placement: options.placement,
            requirePMem: options.requirePMem, plainFile: options.plainFile)
        let snapshot = try PoolSnapshot.load(base: mapping.base, fileSize: mapping.size, path: path)
        guard snapshot.geometry == header.geometry, snapshot.state.bases == header.bases else {
            throw PMemError(
                .busy, operation: "heap open", detail: "\(path) changed while it was being opened")
        }
        for type in types { try snapshot.checkCompatible(type) }
        let counter = options.shutdownCounter ?? PersistentHeap.machineShutdownCounts
        let counts = counter(path)
        let recorded = ShutdownRecord.read(from: mapping.base, salt: snapshot.identity.salt)
        let unsafeShutdown = try checkUnsafeShutdown(
            recorded: recorded?.0.devices, now: counts, leftOpen: !snapshot.state.cleanShutdown,
            policy: options.unsafeShutdown, path: path)
        let pool = PoolMemory(
            mapping: mapping, salt: snapshot.identity.salt, persistPath: options.persistPath)
        var (state, slot, report) = try recover(pool: pool, snapshot: snapshot, options: options, path: path)
        report.open.unsafeShutdown = unsafeShutdown
        report.open.shutdownCounts = counts
        // What the devices count now, for the next open to compare with.
        if !counts.isEmpty || recorded != nil { ShutdownRecord.write(counts, after: recorded, pool: pool) }
        // Both counters in both words: a pool written before the mirrors existed gets them here.
        MirroredCounter.writeTypeCount(UInt64(snapshot.types.count), pool: pool)
        MirroredCounter.writeCheckpoint(report.checkpoint, pool: pool)
        state.generation += 1
        state.cleanShutdown = false
        state.write(into: pool, replacing: slot)
        // Recovery's replay and relocation msync a `file` backing without throwing.
        try pool.checkDurability()
        var opened = snapshot
        opened.checkpoint = report.checkpoint
        try opened.reloadDirectory(base: pool.base, path: path)
        let heap = PersistentHeap(
            path: path, pool: pool, snapshot: opened, state: state, stateSlot: 1 - slot, report: report.open,
            lockDescriptor: lock)
        heap.shutdownCounter = counter
        locked = false
        for type in types { try heap.register(type) }
        if options.guarded { try heap.guardSlabs() }
        return heap
    }

    /// The devices under `path` and their counts, from the machine; none when
    /// they cannot be read (the pool then opens as on a device that counts nothing).
    @Sendable static func machineShutdownCounts(_ path: String) -> [ShutdownCount] {
        (try? ShutdownCounts.of(path: path)) ?? []
    }

    /// The unsafe shutdown the counts show, acted on by `policy`: a check of the
    /// whole pool before anything is written (by default), a refusal, or nothing.
    static func checkUnsafeShutdown(
        recorded: [ShutdownCount]?, now: [ShutdownCount], leftOpen: Bool, policy: UnsafeShutdownPolicy,
        path: String
    ) throws -> UnsafeShutdown? {
        let changes = UnsafeShutdown.changes(recorded: recorded, now: now, leftOpen: leftOpen)
        guard !changes.isEmpty else { return nil }
        var found = UnsafeShutdown(changes: changes)
        let what =
            "\(path) was open during an unsafe shutdown (\(found.summary)): stores it took as durable may be lost"
        switch policy {
        case .ignore:
            return found
        case .refuse:
            throw PMemError(
                .corrupt, operation: "heap open",
                detail: "\(what); nothing was changed. Check it with `pmemctl heap check`")
        case .check:
            let check = try HeapChecker.check(path: path)
            found.checkProblems = check.problemCount
            found.checkedObjects = check.objects
            guard check.healthy else {
                throw PMemError(
                    .corrupt, operation: "heap open",
                    detail:
                        "\(what), and its check found \(check.problemCount) problem\(check.problemCount == 1 ? "" : "s") "
                        + "(first: \(check.problems[0])); "
                        + "nothing was changed. Promote a replica or restore a backup")
            }
            return found
        }
    }

    /// Replays the redo log and relocates pointers as needed (`open`).
    ///
    /// A damaged log (`RedoLogScan`) is refused before anything is written,
    /// unless `options.damagedLog` accepts losing the transactions from the
    /// first damaged one on.
    static func recover(pool: PoolMemory, snapshot: PoolSnapshot, options: HeapOpenOptions, path: String)
        throws -> (PoolState, Int, (open: OpenReport, checkpoint: UInt64, slabTypes: [UInt32]))
    {
        let geometry = snapshot.geometry
        var state = snapshot.state
        var slot = snapshot.stateSlot
        let scan = RedoLogScan.scan(
            in: pool.base, geometry: geometry, checkpoint: snapshot.checkpoint, salt: pool.salt)
        if let first = scan.damage.first, options.damagedLog == .refuse {
            let more = scan.damage.count > 1 ? " (and \(scan.damage.count - 1) more damage)" : ""
            throw PMemError(
                .corrupt, operation: "heap open",
                detail:
                    "\(path): \(first)\(more); nothing was changed. Promote a replica, or accept the loss with "
                    + "`pmemctl heap check --recover --discard-damaged`")
        }
        let records = scan.replayable
        var checkpoint = snapshot.checkpoint
        if !records.isEmpty || scan.isDamaged {
            // After accepted damage the checkpoint passes every record found, so none is replayed later.
            checkpoint = RedoLog.replay(
                records, pool: pool, geometry: geometry, checkpoint: checkpoint,
                through: scan.isDamaged ? scan.newestSequence : 0)
        }
        let target = pool.baseAddress
        var report = OpenReport(
            recoveredFromCrash: !snapshot.state.cleanShutdown, replayedTransactions: records.count,
            relocated: false,
            relocatedFrom: [], base: target, relocation: nil)
        report.logDamage = scan.damage
        report.discardedTransactions = scan.records.count - records.count
        var slabTypes = snapshot.slabTypes
        // After a crash, a reachability pool's bitmaps say nothing: the trace decides what is
        // allocated, and moves pointers in the same walk (a relocation would trust the bitmaps).
        let trace = snapshot.identity.features.contains(.reachability) && !snapshot.state.cleanShutdown
        if state.bases != [target] || trace {
            let from = state.bases.filter { $0 != target }
            if !from.isEmpty {
                // Record every base pointers may hold before touching one: a crash from here on is recoverable.
                state.generation += 1
                state.bases = [target] + from
                state.write(into: pool, replacing: slot)
                slot = 1 - slot
                CrashPoints.reach("heap.relocate.planned")
            }
            let runtimes = snapshot.typeRuntimes()
            if trace {
                report.trace = try Tracer.recover(
                    pool: pool, geometry: geometry, slabTypes: &slabTypes, continued: snapshot.continued,
                    types: runtimes, from: from, threads: options.relocationThreads,
                    acceptUnresolved: options.unresolvedPointers == .reclaimUnreached)
                CrashPoints.reach("heap.trace.done")
            } else {
                report.relocation = Relocator.run(
                    pool: pool, geometry: geometry, slabTypes: slabTypes, types: runtimes, from: from,
                    threads: options.relocationThreads, progress: options.progress)
                CrashPoints.reach("heap.relocate.done")
            }
            if !from.isEmpty {
                state.generation += 1
                state.bases = [target]
                state.write(into: pool, replacing: slot)
                slot = 1 - slot
                report.relocated = true
                report.relocatedFrom = from
            }
        }
        return (state, slot, (report, checkpoint, slabTypes))
    }

    /// The identity and state from the header: read with `pread` from a
    /// file, or through a short-lived read-only mapping of a device.
    private static func readHeader(_ path: String, plainFile: PMemMapping.PlainFilePolicy?) throws -> (
        geometry: PoolGeometry, bases: [UInt64]
    ) {
        var (block, size) = try readHeaderBlock(path)
        defer { block.deallocate() }
        if try PoolResize.finishInterrupted(path: path, header: block, plainFile: plainFile) {
            block.deallocate()
            (block, size) = try readHeaderBlock(path)
        }
        let identity = try PoolIdentity.read(from: block, fileSize: size, path: path)
        let (state, _) = try PoolState.read(from: block, salt: identity.salt, path: path)
        return (identity.geometry, state.bases)
    }

    /// The pool's first `HeapFormat.headerSize` bytes (the caller deallocates
    /// them) and its size: read with `pread` from a file, or copied out of a
    /// short-lived read-only mapping of a device.
    static func readHeaderBlock(_ path: String) throws -> (block: UnsafeMutableRawPointer, size: Int) {
        let block = UnsafeMutableRawPointer.allocate(
            byteCount: HeapFormat.headerSize, alignment: HeapFormat.line)
        do {
            let fd = try InputFile.openForReading(path, operation: "heap open")
            defer { Foundation.close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw PMemError.system("stat", errno: errno, detail: path) }
            if st.st_mode & S_IFMT == S_IFREG {
                let size = Int(st.st_size)
                guard size >= HeapFormat.headerSize else {
                    throw PMemError(
                        .corrupt, operation: "heap open",
                        detail: "\(path): \(size) bytes is too small to be a heap pool")
                }
                guard pread(fd, block, HeapFormat.headerSize, 0) == HeapFormat.headerSize else {
                    throw PMemError.system("read", errno: errno, detail: path)
                }
                return (block, size)
            }
            let probe = try PMemMapping(path: path, options: .init(readOnly: true))
            block.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.headerSize)
            block.copyMemory(from: probe.base, byteCount: min(HeapFormat.headerSize, probe.size))
            return (block, probe.size)
        } catch {
            block.deallocate()
            throw error
        }
    }

    /// How long opening waits for a lock held elsewhere before reporting the pool busy.
    static let lockWait: Duration = .milliseconds(200)

    /// Takes an exclusive lock on the pool so two processes never open it at once.
    ///
    /// The first thing open does: a path that is no pool file or DAX device
    /// (a FIFO, whose open would block) is refused here, before it is opened.
    ///
    /// A lock held elsewhere is tried again for up to `lockWait`: a process
    /// that has the pool open holds it for good, but the HA agent reading a
    /// dead application's pool holds a shared lock for microseconds, and an
    /// application restarting just then must not fail for it.
    static func lockPool(_ path: String) throws -> Int32 {
        let fd = try InputFile.openForReading(path, operation: "heap open")
        let deadline = ContinuousClock.now + lockWait
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            if error == EWOULDBLOCK && ContinuousClock.now < deadline {
                usleep(500)
                continue
            }
            Foundation.close(fd)
            if error == EWOULDBLOCK {
                throw PMemError(
                    .busy, operation: "heap open", errno: error, detail: "\(path) is open in another process")
            }
            throw PMemError.system("flock", errno: error, detail: path)
        }
        return fd
    }
}
