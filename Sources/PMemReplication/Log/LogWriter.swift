import Foundation
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// Appends records to the log: one writer per log (the application), any
/// number of threads. A record is durable when `append` returns: it is
/// streamed into the ring with non-temporal stores and fenced once. Nothing
/// here waits on the network; the only wait is for room in the ring, which
/// the agent makes by reclaiming acknowledged records (`BackPressurePolicy`).
public final class LogWriter: @unchecked Sendable {
    /// The log.
    public let region: LogRegion
    /// What to do when the ring is full.
    public let policy: BackPressurePolicy
    // Every field below is used under `lock` only: no dynamic exclusivity checks (commit hot path).
    private let lock = StoreReleaseLock()
    /// Position of the next record.
    @exclusivity(unchecked) private var tail: UInt64
    /// Sequence number of the next record.
    @exclusivity(unchecked) private var sequence: UInt64
    /// The reclaim point last read from the agent's slot.
    @exclusivity(unchecked) private var head: UInt64
    /// Bytes promised to admitted transactions that have not appended yet.
    @exclusivity(unchecked) private var promised = 0
    // The region's fields the append uses, read once (the commit path).
    private let ring: UnsafeMutableRawPointer
    private let capacity: Int
    private let salt: UInt64
    /// Whether records go in with streaming stores (a CPU persist path that
    /// is not the recording one); otherwise plain stores, then flush or persist.
    private let streams: Bool

    /// Opens the writer at the end of the records already in the log.
    public init(region: LogRegion, policy: BackPressurePolicy) {
        self.region = region
        self.policy = policy
        ring = region.ring
        capacity = region.capacity
        salt = region.salt
        streams = region.mapping.persistPath.map { !$0.isTraced } ?? false
        let point = region.reclaimPoint()
        var scanner = LogScanner(region: region, from: point)
        while scanner.next() != nil {}
        tail = scanner.position
        sequence = scanner.nextSequence
        head = point.position
        region.prefaultRing()
    }

    deinit {
        lock.deallocate()
    }

    /// The largest payload one record can carry.
    public var maxPayload: Int { capacity / 2 - LogFormat.headerSize }

    /// The sequence number the next record will get.
    public var nextSequence: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return sequence
    }

    /// Bytes of the ring in use (appended, not yet reclaimed), as last seen.
    public var usedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return Int(tail - head)
    }

    /// Appends one record whose payload is `payload` (read exactly: a partial
    /// last word is zero-padded in the log), durable on return. Returns its
    /// sequence number.
    ///
    /// Throws `busy` when the ring stays full past the policy's timeout, and
    /// `invalidArgument` for a payload larger than `maxPayload`.
    @discardableResult
    public func append(
        kind: LogRecordKind, transaction: UInt64, payload: UnsafeRawBufferPointer, releasing promise: Int = 0
    ) throws -> UInt64 {
        try append(kind: kind, transaction: transaction, payload: payload, releasing: promise, fenced: true)
    }

    /// `append`, leaving the final fence to the caller when `fenced` is
    /// false: the record is durable once the caller's next `sfence` (the
    /// heap's commit fence, which the replicator shares) has run.
    /// The payload may lie in two pieces: `payload` (whole 8-byte words when
    /// `rest` is not empty), then `rest`.
    func append(
        kind: LogRecordKind, transaction: UInt64, payload: UnsafeRawBufferPointer,
        rest: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), releasing promise: Int,
        fenced: Bool
    ) throws -> UInt64 {
        let length = payload.count + rest.count
        guard length <= maxPayload else {
            throw PMemError(
                .invalidArgument, operation: "replication log",
                detail: "a record of \(length) bytes does not fit a log of \(capacity) bytes "
                    + "(at most \(maxPayload)); use a larger log")
        }
        let footprint = LogFormat.footprint(payload: length)
        lock.lock()
        defer { lock.unlock() }
        promised -= promise
        let offset = Int(tail % UInt64(capacity))
        let wraps = capacity - offset < footprint
        let needed = (wraps ? capacity - offset : 0) + footprint
        try waitForRoom(needed)
        if wraps {
            let nothing = UnsafeRawBufferPointer(start: nil, count: 0)
            write(kind: .wrap, transaction: 0, payload: nothing, rest: nothing)
            CrashPoints.reach("log.append.wrap-written")
            tail = region.nextLap(after: tail)
        }
        let assigned = sequence
        write(kind: kind, transaction: transaction, payload: payload, rest: rest)
        // The log has no tail word: a record is published by its checksum,
        // so the steps that matter are its stores and its fence (on the
        // commit path that fence is the heap's, after its own record).
        CrashPoints.reach("log.append.written")
        if fenced {
            region.mapping.drain()
            CrashPoints.reach("log.append.fenced")
        }
        tail += UInt64(footprint)
        sequence += 1
        return assigned
    }

    /// Reserves room for a record of up to `bytes` (transaction admission),
    /// waiting per the policy while the ring lacks it; returns the bytes
    /// reserved, which the `append` that uses them passes back as
    /// `releasing`, or `release` returns.
    public func promise(_ bytes: Int) throws -> Int {
        let footprint = LogFormat.footprint(payload: min(bytes, maxPayload)) + LogFormat.alignment
        lock.lock()
        defer { lock.unlock() }
        try waitForRoom(footprint)
        promised += footprint
        return footprint
    }

    /// Returns reserved room no record used (the transaction threw or wrote nothing).
    public func release(_ reserved: Int) {
        lock.lock()
        promised -= reserved
        lock.unlock()
    }

    /// Waits (lock held, released while sleeping) until `needed` bytes fit
    /// beside the promised ones.
    private func waitForRoom(_ needed: Int) throws {
        let capacity = UInt64(region.capacity)
        func fits() -> Bool { tail - head + UInt64(needed + max(promised, 0)) <= capacity }
        if fits() { return }
        head = region.reclaimPoint().position
        if fits() { return }
        let limit = policy.timeoutNanoseconds
        let start = DispatchTime.now().uptimeNanoseconds
        var pause: UInt32 = 20
        while true {
            let waited = DispatchTime.now().uptimeNanoseconds - start
            if waited >= limit {
                throw PMemError(
                    .busy, operation: "replication log", errno: ENOSPC,
                    detail:
                        "the log is full: \(tail - head) of \(capacity) bytes await acknowledgement by the "
                        + "replicas" + (limit > 0 ? " after waiting \(Double(waited) / 1e9) s" : "")
                        + " (is the HA agent running and are replicas reachable?)")
            }
            lock.unlock()
            usleep(pause)
            pause = min(pause * 2, 1000)
            lock.lock()
            head = region.reclaimPoint().position
            if fits() { return }
        }
    }

    /// Streams one record at the tail (no fence): its payload is `payload`
    /// then `rest` (`payload` whole 8-byte words when `rest` is not empty),
    /// copied and checksummed in one pass in whole lines, the header's line last.
    private func write(
        kind: LogRecordKind, transaction: UInt64, payload: UnsafeRawBufferPointer,
        rest: UnsafeRawBufferPointer
    ) {
        let destination = ring + Int(tail % UInt64(capacity))
        let length = payload.count + rest.count
        // The precise clock (~30 ns here): the kernel tick's (4 ms) is too
        // coarse for the agent's lag in milliseconds.
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let (stored, seed) = LogRecordHeader(
            position: tail, sequence: sequence, transaction: transaction,
            time: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec), payloadLength: length, kind: kind
        ).unsealed(salt: salt)
        _ = withUnsafeBytes(of: stored) { header in
            Checksum.copyLines(
                to: destination, head: header, sealAt: LogRecordHeader.checksumOffset, payload, rest,
                seed: seed,
                streaming: streams)
        }
        guard !streams else { return }
        let bytes = LogFormat.footprint(payload: length)
        if region.mapping.persistPath == nil {
            region.mapping.persist(destination, bytes)
        } else {
            // Recorded for a store-reordering check: streamed lines are durable
            // at the next fence, in any order before it, as flushed lines are.
            region.mapping.flush(destination, bytes)
        }
    }
}
