import Foundation
import PMemHeap
@_spi(CrashPoints) import PMemKit

/// Replicates a heap: every committed transaction becomes a record in the
/// log on PMem, appended and persisted on the committing thread before the
/// commit returns. The HA agent, a separate process, ships the log to
/// replicas; nothing here touches the network or wakes another process.
///
/// ```swift
/// let heap = try PersistentHeap.open(path: pool)
/// let replicator = try Replicator.attach(to: heap, logPath: "/mnt/pmem/pool.log")
/// try replicator.transaction { tx in ... }   // admission, then heap.transaction
/// replicator.detach()
/// try heap.close()
/// ```
///
/// Attach before any transaction runs. When the log cannot prove it already
/// holds the pool's state (a new log, another pool or base, a crash since
/// the last clean detach) attaching writes a baseline of the pool first.
public final class Replicator: @unchecked Sendable {
    /// How to replicate.
    public struct Options: Sendable {
        /// Ring bytes of a new log.
        public var logCapacity: Int
        /// What `transaction` does when the ring is full.
        public var backPressure: BackPressurePolicy
        /// Room `transaction` reserves before it starts: the largest record a transaction is expected to need.
        public var transactionReserve: Int
        /// Payload bytes per baseline record.
        public var baselineChunk: Int
        /// Whether a commit needs this node to lead its replica set through
        /// etcd (the agent's `LeaseFence` in the log), and what `transaction`
        /// does when it does not.
        public var leadership: LeadershipRequirement

        /// Options; by default a 64 MiB log, waiting up to 10 s for room, and no leadership needed.
        public init(
            logCapacity: Int = 64 << 20, backPressure: BackPressurePolicy = .block(timeout: 10),
            transactionReserve: Int = 256 << 10, baselineChunk: Int = 1 << 20,
            leadership: LeadershipRequirement = .none
        ) {
            self.logCapacity = logCapacity
            self.backPressure = backPressure
            self.transactionReserve = transactionReserve
            self.baselineChunk = baselineChunk
            self.leadership = leadership
        }
    }

    /// Whether commits need the agent's etcd leadership, and what happens without it.
    public enum LeadershipRequirement: Sendable, Equatable {
        /// No coordination: every commit is admitted.
        case none
        /// A commit while this node does not lead fails at once (`busy`, nothing committed).
        case refuse
        /// A commit while this node does not lead waits up to `timeout`
        /// seconds for it to lead (again), then fails like `refuse`.
        case wait(timeout: Double)
    }

    /// The replicated heap.
    public let heap: PersistentHeap
    /// The log's writer.
    public let writer: LogWriter
    /// Whether attaching wrote a baseline (else the log continued where it stopped).
    public let wroteBaseline: Bool
    private let options: Options
    /// Builds and appends each commit's record (the heap's observer holds it too).
    private let recorder: CommitRecorder
    /// The agent's leadership, when commits need it.
    private let fence: LeaseFence?

    private init(
        heap: PersistentHeap, writer: LogWriter, options: Options, recorder: CommitRecorder, baseline: Bool
    ) {
        self.heap = heap
        self.writer = writer
        self.options = options
        self.recorder = recorder
        self.wroteBaseline = baseline
        fence = options.leadership == .none ? nil : writer.region.leaseFence
    }

    /// Attaches to `heap` (open, with no transaction running): opens or
    /// creates the log at `logPath`, writes a baseline when needed, and
    /// subscribes to the heap's commits.
    public static func attach(to heap: PersistentHeap, logPath: String, options: Options = Options()) throws
        -> Replicator
    {
        let region = try LogRegion.openOrCreate(path: logPath, capacity: options.logCapacity)
        let writer = LogWriter(region: region, policy: options.backPressure)
        let base = UInt64(UInt(bitPattern: heap.base))
        let previous = region.attachment()
        let continues =
            previous.map {
                $0.cleanlyDetached && $0.poolUUID == heap.uuid && $0.poolBase == base
                    && $0.lastTransaction == heap.lastCommittedSequence
            } ?? false
        let recorder = CommitRecorder(
            heap: heap, writer: writer, layout: ReplicatedLayout(slabCount: heap.geometry.slabCount))
        let replicator = Replicator(
            heap: heap, writer: writer, options: options, recorder: recorder, baseline: !continues)
        // Where the agent finds the pool, to check what it holds before shipping a transaction.
        try region.storePoolPath(Self.absolutePath(heap.path))
        CrashPoints.reach("log.attach.pool-path")
        if continues {
            heap.forEachBaselineWrite(layout: &recorder.layout) { _, _ in }
        } else {
            try replicator.writeBaseline()
        }
        region.storeAttachment(replicator.attachment(lastTransaction: 0, cleanlyDetached: false))
        CrashPoints.reach("log.attach.slot")
        // Before the heap's commit fence: the record's streaming stores share it.
        heap.addFenceObserver(recorder)
        return replicator
    }

    /// Runs `body` as a heap transaction after reserving room in the log for
    /// its record (`Options.transactionReserve`): when the ring is full the
    /// back-pressure policy applies here, before anything is committed.
    /// Throws the latched failure if an earlier commit could not be logged.
    @discardableResult
    public func transaction<R>(_ body: (Transaction) throws -> R) throws -> R {
        try admit()
        defer { endAdmission() }
        return try heap.transaction(body)
    }

    /// Reserves room for this thread's next transaction (the first half of
    /// `transaction`, for the C API's begin and commit calls).
    package func admit() throws {
        try check()
        if let fence, !fence.admits() { try awaitLeadership(fence) }
        recorder.admission.value = try writer.promise(options.transactionReserve)
    }

    /// Waits for this node to lead as `Options.leadership` says, or throws why not.
    private func awaitLeadership(_ fence: LeaseFence) throws {
        if case .wait(let timeout) = options.leadership {
            let deadline = LeaseFence.monotonicNow() + UInt64(max(0, min(timeout, 86_400)) * 1e9)
            while LeaseFence.monotonicNow() < deadline {
                usleep(1000)
                if fence.admits() { return }
            }
        }
        let why =
            switch fence.standing() {
            case .none: "no agent leads this log's replica set on this machine"
            case .lapsed(let epoch): "this node's leadership of epoch \(epoch) lapsed"
            case .leading: "this node's leadership was renewed only just now"
            }
        throw PMemError(.busy, operation: "transaction", detail: "commit refused: \(why) (etcd fencing)")
    }

    /// Returns the room `admit` reserved unless the commit's record used it
    /// (and zeroed the reservation); call it after the transaction ends.
    package func endAdmission() {
        let unused = recorder.admission.value
        if unused > 0 {
            recorder.admission.value = 0
            writer.release(unused)
        }
    }

    /// Throws if a committed transaction could not be logged (the ring stayed
    /// full past the policy's limit): replicas then lack it, and the next
    /// attach writes a new baseline.
    public func check() throws {
        if let failure = recorder.latchedFailure { throw failure }
    }

    /// Records a clean detach: every commit so far is in the log, so the
    /// next attach of the same pool at the same base continues without a
    /// baseline. Call after the last transaction, before closing the heap.
    public func detach() {
        recorder.locked {
            guard !recorder.hasFailed else { return }
            writer.region.storeAttachment(
                attachment(lastTransaction: heap.lastCommittedSequence, cleanlyDetached: true))
            CrashPoints.reach("log.detach.slot")
        }
    }

    /// What the log records of this attachment: the pool, and, for the agent's
    /// checks, this process and the pool's open generation (the pool's state
    /// shows another once the pool is closed or opened again).
    private func attachment(lastTransaction: UInt64, cleanlyDetached: Bool) -> LogRegion.Attachment {
        LogRegion.Attachment(
            poolUUID: heap.uuid, poolBase: UInt64(UInt(bitPattern: heap.base)),
            lastTransaction: lastTransaction,
            cleanlyDetached: cleanlyDetached, processID: getpid(), poolGeneration: heap.openGeneration)
    }

    /// `path` made absolute (the agent may run elsewhere in the file tree).
    private static func absolutePath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Writes the pool's current state as baseline records.
    private func writeBaseline() throws {
        let transaction = heap.lastCommittedSequence
        let begin = BaselineBeginPayload(
            poolUUID: heap.uuid, poolSize: UInt64(heap.geometry.poolSize),
            poolBase: UInt64(UInt(bitPattern: heap.base))
        ).bytes
        _ = try begin.withUnsafeBytes {
            try writer.append(kind: .baselineBegin, transaction: transaction, payload: $0)
        }
        CrashPoints.reach("log.baseline.begin")
        let chunk = max(4096, min(options.baselineChunk, writer.maxPayload - 4096))
        let builder = recorder.builder
        builder.reset()
        try heap.forEachBaselineWrite(layout: &recorder.layout) { offset, bytes in
            var done = 0
            while done < bytes.count {
                let room = chunk - builder.size - PoolWritesPayload.writeHeaderSize
                if room < 64 {
                    try writer.append(kind: .baselineWrites, transaction: transaction, payload: builder.bytes)
                    CrashPoints.reach("log.baseline.writes")
                    builder.reset()
                    continue
                }
                let piece = min(room & ~7, bytes.count - done)
                builder.add(
                    offset: offset + done, bytes: UnsafeRawBufferPointer(rebasing: bytes[done..<done + piece])
                )
                done += piece
            }
        }
        if !builder.isEmpty {
            try writer.append(kind: .baselineWrites, transaction: transaction, payload: builder.bytes)
            CrashPoints.reach("log.baseline.writes")
        }
        try writer.append(
            kind: .baselineEnd, transaction: transaction,
            payload: UnsafeRawBufferPointer(start: nil, count: 0))
        CrashPoints.reach("log.baseline.end")
    }
}
