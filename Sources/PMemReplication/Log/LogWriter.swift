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
    private let header = UnsafeMutableRawPointer.allocate(
        byteCount: LogFormat.alignment, alignment: LogFormat.alignment)

    /// Opens the writer at the end of the records already in the log.
    public init(region: LogRegion, policy: BackPressurePolicy) {
        self.region = region
        self.policy = policy
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
        header.deallocate()
    }

    /// The largest payload one record can carry.
    public var maxPayload: Int { region.capacity / 2 - LogFormat.headerSize }

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

    /// Appends one record whose payload is `payload` (a multiple of 8 bytes
    /// may be read past its end up to the next multiple of 8; callers pass
    /// buffers padded so), durable on return. Returns its sequence number.
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
    func append(
        kind: LogRecordKind, transaction: UInt64, payload: UnsafeRawBufferPointer, releasing promise: Int,
        fenced: Bool
    ) throws -> UInt64 {
        guard payload.count <= maxPayload else {
            throw PMemError(
                .invalidArgument, operation: "replication log",
                detail: "a record of \(payload.count) bytes does not fit a log of \(region.capacity) bytes "
                    + "(at most \(maxPayload)); use a larger log")
        }
        let footprint = LogFormat.footprint(payload: payload.count)
        lock.lock()
        defer { lock.unlock() }
        promised -= promise
        let offset = Int(tail % UInt64(region.capacity))
        let wraps = region.capacity - offset < footprint
        let needed = (wraps ? region.capacity - offset : 0) + footprint
        try waitForRoom(needed)
        if wraps {
            write(kind: .wrap, transaction: 0, payload: UnsafeRawBufferPointer(start: nil, count: 0))
            CrashPoints.reach("log.append.wrap-written")
            tail = region.nextLap(after: tail)
        }
        let assigned = sequence
        write(kind: kind, transaction: transaction, payload: payload)
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

    /// Streams one record at the tail (no fence).
    private func write(kind: LogRecordKind, transaction: UInt64, payload: UnsafeRawBufferPointer) {
        let destination = region.ring + Int(tail % UInt64(region.capacity))
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let fields = LogRecordHeader(
            position: tail, sequence: sequence, transaction: transaction,
            time: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec), payloadLength: payload.count,
            kind: kind)
        // The checksum needs the payload where the header expects it: compute it over the source.
        fields.writeHeader(to: header, payload: payload, salt: region.salt)
        let padded = (payload.count + 7) & ~7
        // The payload's whole words come from the caller's buffer; a partial
        // last word is zero-padded here, never read past the buffer's end.
        let whole = payload.count & ~7
        var tail: UInt64 = 0
        if whole < payload.count {
            withUnsafeMutableBytes(of: &tail) {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: payload[whole...]))
            }
        }
        let body = destination + LogFormat.headerSize
        let path = region.mapping.persistPath
        if let path, !path.isTraced {
            StreamingStore.copy(to: destination, from: header, LogFormat.headerSize)
            if whole > 0 { StreamingStore.copy(to: body, from: payload.baseAddress!, whole) }
            if whole < padded { StreamingStore.store(tail, to: body + whole) }
        } else {
            destination.copyMemory(from: header, byteCount: LogFormat.headerSize)
            if whole > 0 { body.copyMemory(from: payload.baseAddress!, byteCount: whole) }
            if whole < padded { (body + whole).storeBytes(of: tail, as: UInt64.self) }
            if path == nil {
                region.mapping.persist(destination, LogFormat.headerSize + padded)
            } else {
                // Recorded for a store-reordering check: streamed lines are durable
                // at the next fence, in any order before it, as flushed lines are.
                region.mapping.flush(destination, LogFormat.headerSize + padded)
            }
        }
    }
}
