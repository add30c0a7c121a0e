import Foundation
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// The redo log: lanes of records, the global commit sequence, and the
/// checkpoint that says which records are no longer needed.
///
/// Commit protocol (one ordering point): a transaction builds its record in
/// DRAM, seals it (a checksum over every byte), streams it into its lane
/// and fences once; from then on the record alone proves the commit. The
/// changes are then stored in place without flushing: until the checkpoint
/// passes the record, recovery would replay it, so those lines only need to
/// be flushed before the checkpoint moves (which flushes every lane's).
///
/// Recovery replays, in sequence order, every valid record newer than the
/// persistent checkpoint. The checkpoint only moves past a sequence once
/// every record up to it is durably applied, and a lane is only rewritten
/// from its start once the checkpoint covers everything in it, so no record
/// that could still matter is ever overwritten.
final class RedoLog: @unchecked Sendable {
    let pool: PoolMemory
    let geometry: PoolGeometry
    let lanes: [Lane]
    let bounds: RedoRecord.Bounds
    /// The last sequence number handed out (own cache line).
    private let sequence: UnsafeMutablePointer<UInt64>
    /// Guards checkpoint advances.
    private let lock = NSLock()
    /// One transaction at a time collects lanes for a multi-lane record (`acquireLanes`).
    private let multiLaneLock = NSLock()
    /// Guards `lendable`.
    private let lendLock = NSLock()
    /// Own lanes of transactions waiting for `multiLaneLock`, which the one collecting may borrow.
    private var lendable: [Lane] = []
    /// The persistent checkpoint, mirrored (written under `lock`).
    private(set) var checkpoint: UInt64 {
        get { Atomic64.loadAcquire(checkpointMirror) }
        set { Atomic64.storeRelease(checkpointMirror, newValue) }
    }
    private let checkpointMirror: UnsafeMutablePointer<UInt64>

    /// The checkpoint, readable from any thread without the lock.
    var checkpointValue: UInt64 { checkpoint }

    init(pool: PoolMemory, geometry: PoolGeometry, checkpoint: UInt64) {
        self.pool = pool
        self.geometry = geometry
        self.bounds = RedoRecord.Bounds(geometry: geometry)
        checkpointMirror = .allocate(capacity: 1)
        checkpointMirror.initialize(to: checkpoint)
        lanes = (0..<geometry.laneCount).map {
            Lane(index: $0, start: pool.base + geometry.laneOffset($0), size: geometry.laneSize)
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        sequence = raw.initializeMemory(as: UInt64.self, repeating: 0, count: 8)
        sequence.pointee = checkpoint
    }

    deinit {
        sequence.deallocate()
        checkpointMirror.deallocate()
    }

    /// The caller's thread, as the lanes record it.
    @inline(__always) static var currentThread: UInt64 {
        UInt64(UInt(bitPattern: Int(bitPattern: pthread_self())))
    }

    // MARK: Lanes

    /// A free lane, preferring `hint`; waits (yielding) while all are busy.
    func acquireLane(hint: Int) -> Lane {
        var i = hint % lanes.count
        var tries = 0
        while !lanes[i].tryAcquire() {
            i = (i + 1) % lanes.count
            tries += 1
            if tries % lanes.count == 0 { sched_yield() }
        }
        return lanes[i]
    }

    /// Takes `count` more lanes for a record written across several.
    ///
    /// Each such transaction already holds its own lane, so two that each
    /// need every lane would wait for each other for ever. Instead one at a
    /// time collects lanes (`multiLaneLock`), keeping what it gets, and the
    /// others lend it their own lane while they wait their turn: it writes a
    /// part there and its `release()` hands the lane back to its owner, who
    /// never stops holding it. What it still lacks is held by transactions
    /// that are not waiting here, which end.
    func acquireLanes(_ count: Int, besides own: Lane) -> [Lane] {
        guard count > 0 else { return [] }
        lendLock.withLock { lendable.append(own) }
        multiLaneLock.lock()
        defer { multiLaneLock.unlock() }
        let borrowed = lendLock.withLock { () -> Bool in
            guard let i = lendable.firstIndex(where: { $0 === own }) else { return true }
            lendable.remove(at: i)
            return false
        }
        // Lent out while this transaction waited: back once the borrower's commit released it.
        while borrowed && Atomic64.loadAcquire(own.word(.lent)) != 0 { sched_yield() }
        var got: [Lane] = []
        while true {
            for lane in lanes where got.count < count && lane !== own && !got.contains(where: { $0 === lane })
            {
                if lane.tryAcquire() || borrow(lane) { got.append(lane) }
            }
            if got.count == count { return got }
            sched_yield()
        }
    }

    /// Borrows `lane` when its owner waits in `acquireLanes` for its turn.
    private func borrow(_ lane: Lane) -> Bool {
        lendLock.withLock {
            guard let i = lendable.firstIndex(where: { $0 === lane }) else { return false }
            lendable.remove(at: i)
            Atomic64.storeRelease(lane.word(.lent), 1)
            return true
        }
    }

    /// Flushes what records applied in `lane` stored in place (no fence).
    ///
    /// Any thread may do this for any lane: the flushes are ordered by the
    /// caller's own fence, which is why the checkpoint calls it for every
    /// lane before it moves.
    func flushDirty(of lane: Lane) {
        lane.lockDirty()
        for (address, length) in lane.dirty { pool.flush(address, length) }
        lane.dirty.removeAll(keepingCapacity: true)
        lane.unlockDirty()
    }

    // MARK: Sequence numbers

    /// Draws the next sequence number for `lane`, publishing it as in flight
    /// first so a concurrent checkpoint cannot pass it.
    @inline(__always) func drawSequence(for lane: Lane) -> UInt64 {
        Atomic64.storeSequentiallyConsistent(lane.word(.inFlight), Lane.reserving)
        let seq = Atomic64.fetchAdd(sequence, 1) + 1
        Atomic64.storeRelease(lane.word(.inFlight), seq)
        return seq
    }

    /// The latest sequence number handed out.
    var lastSequence: UInt64 { Atomic64.loadSequentiallyConsistent(sequence) }

    // MARK: Checkpoint

    /// Advances the persistent checkpoint to at least `needed`: flushes what
    /// every lane stored in place, fences, then stores the checkpoint,
    /// waiting for transactions still between their sequence number and the
    /// end of their apply.
    func advanceCheckpoint(through needed: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        while checkpoint < needed {
            // Read the counter before the lanes: a lane seen idle draws a larger number later.
            var target = Atomic64.loadSequentiallyConsistent(sequence)
            for lane in lanes {
                var inFlight = Atomic64.loadSequentiallyConsistent(lane.word(.inFlight))
                while inFlight == Lane.reserving {
                    Atomic64.relax()
                    inFlight = Atomic64.loadSequentiallyConsistent(lane.word(.inFlight))
                }
                if inFlight != 0 { target = min(target, inFlight - 1) }
                flushDirty(of: lane)
            }
            pool.drain()
            if target > checkpoint {
                CrashPoints.reach("heap.checkpoint.flushed")
                storeCheckpoint(target)
            }
            if checkpoint < needed {
                lock.unlock()
                sched_yield()
                lock.lock()
            }
        }
    }

    private func storeCheckpoint(_ value: UInt64) {
        MirroredCounter.writeCheckpoint(value, pool: pool)
        checkpoint = value
    }

    // MARK: Recovery

    /// A committed record found in the log; multi-lane records are reassembled in DRAM.
    struct FoundRecord {
        let seq: UInt64
        let record: UnsafeRawPointer
        let lane: Int
        /// Holds a reassembled record's bytes alive.
        let storage: RecordStorage?
    }

    /// Owned bytes of a reassembled record.
    final class RecordStorage {
        let bytes: UnsafeMutableRawPointer
        init(_ content: [UInt8]) {
            bytes = .allocate(byteCount: max(content.count, 1), alignment: 8)
            content.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        deinit { bytes.deallocate() }
    }

    /// Stores a record's changes in place and flushes them (no fence); a
    /// record whose entries do not validate against `bounds` changes nothing.
    static func apply(_ record: UnsafeRawPointer, pool: PoolMemory, bounds: RedoRecord.Bounds) {
        let base = pool.base
        RedoRecord.forEachEntry(record, bounds: bounds) { entry in
            let changed = entry.apply(to: base)
            pool.flush(changed.target, changed.length)
            CrashPoints.reach("heap.redo.entry-applied")
        }
    }

    /// Replays what recovery found, then moves the checkpoint past it (fenced),
    /// or to `through` when that is later (records left unreplayed on
    /// purpose, after damage the caller accepted, must never be replayed).
    /// Returns the new checkpoint.
    static func replay(
        _ records: [FoundRecord], pool: PoolMemory, geometry: PoolGeometry, checkpoint: UInt64,
        through: UInt64 = 0
    ) -> UInt64 {
        let bounds = RedoRecord.Bounds(geometry: geometry)
        for found in records {
            apply(found.record, pool: pool, bounds: bounds)
        }
        pool.drain()
        pool.syncAll()
        let last = max(records.last?.seq ?? checkpoint, through, checkpoint)
        if last > checkpoint {
            MirroredCounter.writeCheckpoint(last, pool: pool)
        }
        return last
    }
}
