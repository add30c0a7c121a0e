internal import CPMemReplication
import Foundation
import PMemHeap
@_spi(CrashPoints) import PMemKit

/// A replica's durable copy of a replicated pool, in a directory:
///
/// - `state`: what has been applied (`ReplicaState`, two checksummed slots);
/// - `journal`: the batch being applied (`ReplicaJournal`);
/// - `pool.<N>`: the pool copy, generation N; a baseline is written into
///   `pool.<N+1>`, which becomes current when the baseline ends.
///
/// `apply(batch:)` checks everything first (record checksums under the log's
/// UUID, sequence continuity, payload bounds, each redo record's own checksum
/// and bounds) and writes nothing when anything fails. Then the batch goes to
/// the journal, then into the pool copy, then the state moves past it.
public final class ReplicaStore: @unchecked Sendable {
    /// The store's directory.
    public let directory: String
    /// What has been applied.
    public private(set) var state: ReplicaState
    /// The batch journal opened over replay.
    let journal: ReplicaJournal
    private let stateSlots: SlotPair<pmr_replica_state_slot>
    private var pool: PMemMapping?
    private var image: ReplicaPoolImage?
    private var next: PMemMapping?
    private let lockDescriptor: Int32
    /// Pool writes of the records being checked and applied (reused per batch).
    private var checkedWrites: [PoolWritesPayload.Write] = []
    /// Lines written in the pool copy and in a baseline's new copy (reused per batch).
    private let poolLines = LineSet()
    private let nextLines = LineSet()

    /// Largest batch (bytes of records) the journal takes.
    public var maxBatchBytes: Int { journal.capacity }

    /// How `init(directory:mode:maxBatchBytes:)` treats a directory that holds no store yet.
    public enum OpenMode: Sendable {
        /// Start a new store in an empty or missing directory (`replica serve`).
        case createIfNew
        /// Open a store that exists, creating nothing (`replica promote`).
        case existingOnly
    }

    /// Opens the store in `directory`, takes its lock, and finishes applying
    /// a journaled batch left by a crash. Only an empty directory, or a
    /// missing one, is a new store (and only with `createIfNew`); a store that
    /// is damaged (a state with no valid slot, pool copies or a journal
    /// without a state, a missing pool copy) throws `corrupt`, leaving every
    /// file as it was.
    ///
    /// - Parameter maxBatchBytes: journal capacity of a new store.
    public init(directory: String, mode: OpenMode = .createIfNew, maxBatchBytes: Int = 64 << 20) throws {
        self.directory = directory
        let create: Bool
        switch (try ReplicaStoreDirectory.inspect(directory), mode) {
        case (.existing, _):
            create = false
        case (.missing, .existingOnly), (.new, .existingOnly):
            throw PMemError(.notFound, operation: "replica store", detail: "no replica store at \(directory)")
        case (.missing, .createIfNew):
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                throw PMemError.system("mkdir", errno: errno, detail: directory)
            }
            create = true
        case (.new, .createIfNew):
            create = true
        }
        lockDescriptor = try Self.lock(directory, create: mode == .createIfNew)
        do {
            let stateMapping = try PMemMapping(
                path: "\(directory)/state",
                options: create ? .init(size: ReplicaState.fileSize, create: true) : .init())
            stateSlots = ReplicaState.slots(in: stateMapping)
            journal = ReplicaJournal(
                mapping: try PMemMapping(
                    path: "\(directory)/journal",
                    options: create
                        ? .init(size: ReplicaJournal.dataOffset + maxBatchBytes, create: true) : .init()))
            state = try ReplicaState.read(stateSlots, path: "\(directory)/state")
            try openPools()
            try replayJournal()
        } catch {
            if lockDescriptor >= 0 { Foundation.close(lockDescriptor) }
            throw error
        }
    }

    /// Takes the store's lock (`lock`, flock'ed while a process uses the
    /// store); -1 when an existing store has no lock file (no process ever
    /// served it, so none serves it now).
    private static func lock(_ directory: String, create: Bool) throws -> Int32 {
        let path = "\(directory)/lock"
        let lock = Foundation.open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        guard lock >= 0 else {
            if errno == ENOENT && !create { return -1 }
            throw PMemError.system("open", errno: errno, detail: path)
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            Foundation.close(lock)
            throw PMemError(
                .busy, operation: "replica store", errno: error,
                detail: "\(directory) is in use by another process (a running replica?)")
        }
        return lock
    }

    deinit { if lockDescriptor >= 0 { Foundation.close(lockDescriptor) } }

    /// Path of the pool copy of generation `generation`.
    func poolPath(_ generation: UInt64) -> String { "\(directory)/pool.\(generation)" }

    private func openPools() throws {
        if state.poolGeneration > 0 {
            let mapping = try PMemMapping(path: poolPath(state.poolGeneration))
            pool = mapping
            image = try ReplicaPoolImage(mapping: mapping)
        }
        if state.inBaseline {
            next = try PMemMapping(path: poolPath(state.poolGeneration + 1))
        }
    }

    /// Applies again a batch that reached the journal but not the state.
    private func replayJournal() throws {
        guard let entry = try journal.entry(), entry.lastSequence > state.appliedSequence,
            entry.firstSequence <= state.appliedSequence + 1 || state.appliedSequence == 0,
            let logUUID = state.logUUID
        else { return }
        CrashPoints.reach("replica.replay.started")
        let batch = UnsafeRawBufferPointer(start: journal.data, count: entry.bytes)
        let records = try check(batch, from: entry.firstSequence, salt: LogFormat.salt(of: logUUID))
        try applyChecked(records[...])
    }

    /// Adopts `log` of a primary at `epoch`: when the store follows none
    /// yet, or — from a primary of a newer epoch (one promoted since) —
    /// instead of the log it follows: its records start again with a
    /// baseline, and the pool copy stays current until that baseline ends.
    /// One state write makes the switch. Throws `busy` for a stale primary
    /// (`admit(epoch:)`), `invalidArgument` for another log at the same epoch.
    public func follow(log: UUID, epoch: UInt64 = 0) throws {
        try admit(epoch: epoch, record: false)
        var updated = state
        if let current = state.logUUID, current != log {
            guard epoch > state.epoch else {
                throw PMemError(
                    .invalidArgument, operation: "replica store",
                    detail: "\(directory) follows log \(current), not \(log); use a new store directory")
            }
            updated.appliedSequence = 0
            updated.firstSequence = 0
            updated.inBaseline = false
            next = nil
        }
        updated.logUUID = log
        updated.epoch = epoch
        guard updated != state else { return }
        state = updated
        state.write(stateSlots)
        CrashPoints.reach("replica.follow.state")
    }

    /// Checks a primary's epoch against the highest this store has seen and
    /// records a higher one durably, before anything of that primary is
    /// acknowledged. Throws `busy` for a lower one: a stale primary (one
    /// whose leadership lapsed and that another node replaced).
    public func admit(epoch: UInt64) throws { try admit(epoch: epoch, record: true) }

    private func admit(epoch: UInt64, record: Bool) throws {
        guard epoch >= state.epoch else {
            throw PMemError(
                .busy, operation: "replica store",
                detail: "a primary at epoch \(epoch) is stale: this replica has seen epoch \(state.epoch)")
        }
        guard record, epoch > state.epoch else { return }
        state.epoch = epoch
        state.write(stateSlots)
        CrashPoints.reach("replica.epoch.state")
    }

    // MARK: Applying

    /// A record of a checked batch, in the form it is applied from (nothing is parsed or validated twice).
    struct CheckedRecord {
        let header: LogRecordHeader
        let payload: UnsafeRawBufferPointer
        /// Its pool writes: indices into `checkedWrites`.
        let writes: Range<Int>
        /// A transaction's redo record, validated against the pool copy.
        let redo: ValidatedRedoRecord?
    }

    /// Applies a batch: the records (verbatim, with their padding) whose
    /// first has sequence number `firstSequence`. Records the store already
    /// applied are skipped; a gap, or any record that fails a check, rejects
    /// the whole batch with nothing written. Returns the number of records applied.
    @discardableResult
    public func apply(batch: UnsafeRawBufferPointer, firstSequence: UInt64) throws -> Int {
        guard let logUUID = state.logUUID else {
            throw PMemError(.invalidArgument, operation: "replica store", detail: "no log adopted yet")
        }
        guard batch.count <= journal.capacity else {
            throw PMemError(
                .corrupt, operation: "replica store",
                detail: "a batch of \(batch.count) bytes exceeds the journal's \(journal.capacity)")
        }
        guard !batch.isEmpty else { return 0 }
        // Staged first (the journal's header still names the previous batch):
        // there the records are 64-byte aligned, as the checks require. Then
        // checked once and applied from the checked form.
        journal.stage(batch)
        CrashPoints.reach("replica.apply.staged")
        let staged = UnsafeRawBufferPointer(start: journal.data, count: batch.count)
        let records = try check(staged, from: firstSequence, salt: LogFormat.salt(of: logUUID))
        let fresh = records.drop { $0.header.sequence <= state.appliedSequence }
        guard let first = fresh.first, let last = fresh.last else { return 0 }
        journal.commit(
            .init(
                firstSequence: first.header.sequence, lastSequence: last.header.sequence, bytes: batch.count,
                records: fresh.count))
        CrashPoints.reach("replica.apply.journaled")
        try applyChecked(fresh)
        return fresh.count
    }

    /// Checks a batch without writing anything; returns its records.
    func check(_ batch: UnsafeRawBufferPointer, from firstSequence: UInt64, salt: UInt64) throws
        -> [CheckedRecord]
    {
        func reject(_ why: String) -> PMemError {
            PMemError(.corrupt, operation: "replica store", detail: why)
        }
        // Counted up once per record below: from out of range, that would overflow.
        guard firstSequence < LogFormat.counterLimit else {
            throw reject("first sequence \(firstSequence) is out of range")
        }
        let fresh = state.appliedSequence == 0
        // A gap is allowed only up to a baseline, which rebuilds the whole copy
        // (the agent skips records the primary's pool was not shown to hold).
        if !fresh && firstSequence > state.appliedSequence + 1
            && !Self.startsWithBaseline(batch, salt: salt)
        {
            throw reject("sequence gap: expected \(state.appliedSequence + 1), got \(firstSequence)")
        }
        var records: [CheckedRecord] = []
        checkedWrites.removeAll(keepingCapacity: true)
        var offset = 0
        var expected = firstSequence
        var inBaseline = state.inBaseline
        var baselineSize = next?.size
        var havePool = image != nil
        while offset < batch.count {
            guard
                let header = LogRecordHeader.validated(
                    at: batch.baseAddress! + offset, available: batch.count - offset, salt: salt),
                header.kind != .wrap
            else { throw reject("record \(expected) fails its checksum (damaged, or from another log)") }
            guard header.sequence == expected else {
                throw reject("sequence gap: expected \(expected), got \(header.sequence)")
            }
            guard header.footprint <= batch.count - offset else {
                throw reject("record \(expected) is truncated")
            }
            let payload = UnsafeRawBufferPointer(
                start: batch.baseAddress! + offset + LogFormat.headerSize, count: header.payloadLength)
            let skip = !fresh && header.sequence <= state.appliedSequence
            if fresh && records.isEmpty && header.kind != .baselineBegin && !havePool {
                throw reject(
                    "record \(expected) is a \(header.kind) but this store holds no pool yet (needs a baseline)"
                )
            }
            if !skip {
                let firstWrite = checkedWrites.count
                var redo: ValidatedRedoRecord?
                switch header.kind {
                case .transaction:
                    guard !inBaseline, havePool, let image else {
                        throw reject("transaction record \(expected) arrived with no complete pool copy")
                    }
                    let record = try PoolWritesPayload.parse(
                        payload, poolSize: image.geometry.poolSize, into: &checkedWrites)
                    guard let record else {
                        throw reject("transaction record \(expected) carries no redo record")
                    }
                    redo = try image.validated(record: record)
                case .baselineBegin:
                    guard let begin = BaselineBeginPayload(payload) else {
                        throw reject("baseline record \(expected) is truncated")
                    }
                    guard begin.poolSize >= 4096, begin.poolSize <= 1 << 46 else {
                        throw reject("baseline pool size \(begin.poolSize) is invalid")
                    }
                    inBaseline = true
                    baselineSize = Int(begin.poolSize)
                case .baselineWrites:
                    guard inBaseline, let size = baselineSize else {
                        throw reject("baseline writes \(expected) outside a baseline")
                    }
                    _ = try PoolWritesPayload.parse(payload, poolSize: size, into: &checkedWrites)
                case .baselineEnd:
                    guard inBaseline else { throw reject("baseline end \(expected) outside a baseline") }
                    guard offset + header.footprint == batch.count else {
                        throw reject("baseline end \(expected) is not the last record of its batch")
                    }
                    inBaseline = false
                    havePool = true
                case .wrap:
                    break
                }
                records.append(
                    CheckedRecord(
                        header: header, payload: payload, writes: firstWrite..<checkedWrites.count, redo: redo
                    ))
            }
            offset += header.footprint
            expected += 1
        }
        return records
    }

    /// Whether a batch's first record is a valid baseline start.
    private static func startsWithBaseline(_ batch: UnsafeRawBufferPointer, salt: UInt64) -> Bool {
        guard let base = batch.baseAddress,
            let header = LogRecordHeader.validated(at: base, available: batch.count, salt: salt)
        else { return false }
        return header.kind == .baselineBegin
    }

    /// Applies checked records to the pool copy, then moves the state past them.
    private func applyChecked(_ records: ArraySlice<CheckedRecord>) throws {
        // Stores first, flushes once per line at the end: a line that several
        // records of the batch write is flushed once (on CPUs whose CLWB
        // evicts the line, flushing as we go would make each rewrite miss).
        let poolLines = self.poolLines
        let nextLines = self.nextLines
        poolLines.removeAll()
        nextLines.removeAll()
        var updated = state
        var obsolete: [String] = []
        for record in records {
            switch record.header.kind {
            case .transaction:
                guard let pool, let image else { continue }
                for write in checkedWrites[record.writes] {
                    copy(write, into: pool)
                    poolLines.insert(offset: write.offset, length: write.bytes.count)
                }
                if let redo = record.redo { image.apply(redo) { poolLines.insert(offset: $0, length: $1) } }
                updated.lastTransaction = record.header.transaction
            case .baselineBegin:
                next = nil
                let path = poolPath(updated.poolGeneration + 1)
                unlink(path)
                // Checked with the batch: the payload is whole and the size is in range.
                let size = Int(BaselineBeginPayload(record.payload)!.poolSize)
                next = try PMemMapping(path: path, options: .init(size: size, create: true))
                CrashPoints.reach("replica.baseline.created")
                updated.inBaseline = true
            case .baselineWrites:
                guard let next else { continue }
                for write in checkedWrites[record.writes] {
                    copy(write, into: next)
                    nextLines.insert(offset: write.offset, length: write.bytes.count)
                }
            case .baselineEnd:
                guard let finished = next else { continue }
                for line in nextLines.lines { finished.flush(finished.base + line << 6, 64) }
                nextLines.removeAll()
                finished.drain()
                CrashPoints.reach("replica.baseline.flushed")
                let newImage = try ReplicaPoolImage(mapping: finished)
                let old = updated.poolGeneration
                updated.poolGeneration += 1
                updated.inBaseline = false
                updated.poolUUID = newImage.uuid
                updated.lastTransaction = record.header.transaction
                if let old = pool {
                    for line in poolLines.lines { old.flush(old.base + line << 6, 64) }
                    old.drain()
                }
                poolLines.removeAll()
                pool = finished
                image = newImage
                next = nil
                if old > 0 { obsolete.append(poolPath(old)) }
            case .wrap:
                break
            }
            if updated.firstSequence == 0 { updated.firstSequence = record.header.sequence }
            updated.appliedSequence = record.header.sequence
            updated.appliedRecords += 1
            updated.lastTime = record.header.time
            // Stores of this record are made, not flushed: a process crash keeps them.
            CrashPoints.reach("replica.apply.record")
        }
        if let pool { for line in poolLines.lines { pool.flush(pool.base + line << 6, 64) } }
        if let next { for line in nextLines.lines { next.flush(next.base + line << 6, 64) } }
        pool?.drain()
        next?.drain()
        CrashPoints.reach("replica.apply.flushed")
        updated.write(stateSlots)
        CrashPoints.reach("replica.apply.state")
        state = updated
        // Only once the state names the new copy may the old one go.
        for path in obsolete {
            unlink(path)
            CrashPoints.reach("replica.baseline.obsolete-removed")
        }
    }

    /// Stores a pool write (the caller flushes its lines).
    private func copy(_ write: PoolWritesPayload.Write, into mapping: PMemMapping) {
        guard write.bytes.count > 0 else { return }
        (mapping.base + write.offset).copyMemory(from: write.bytes.baseAddress!, byteCount: write.bytes.count)
    }

    // MARK: Promotion

    /// What `promote` produced.
    public struct Promotion: Sendable, Codable, Equatable {
        /// The pool file written.
        public var pool: String
        /// The pool's UUID.
        public var poolUUID: String
        /// The last log sequence number it includes.
        public var sequence: UInt64
        /// The heap commit sequence number of the last transaction it includes.
        public var transaction: UInt64
        /// A newer baseline was still incomplete (the copy is the previous, consistent one).
        public var baselineIncomplete: Bool
    }

    /// Writes the current pool copy to `path` (a new file) for an
    /// application to open there: at a new base its pointers are relocated.
    ///
    /// The pool appears at `path` whole or not at all: it is written to an
    /// unnamed file in the same directory (`O_TMPFILE`; where the file
    /// system lacks it, a hidden `.NAME.promoting.PID` removed on failure),
    /// synced, and only then linked at `path`, which fails if `path` exists.
    /// A promotion killed part way leaves nothing an application could open
    /// as the promoted pool, and running it again finishes it.
    public func promote(to path: String, epoch: UInt64? = nil) throws -> Promotion {
        if let epoch {
            guard epoch >= state.epoch else {
                throw PMemError(
                    .busy, operation: "replica promote",
                    detail: "promotion at epoch \(epoch) refused: \(directory) has seen epoch \(state.epoch)")
            }
            try admit(epoch: epoch)
        }
        guard let pool, let image else {
            throw PMemError(
                .notFound, operation: "replica promote",
                detail: "\(directory) holds no complete pool copy yet (no baseline received)")
        }
        // Refused up front, and again by the link at the end (another process may create it meanwhile).
        if access(path, F_OK) == 0 { throw PMemError.system("open", errno: EEXIST, detail: path) }
        pool.drain()
        let file = try PartialFile(creatingBeside: path)
        defer { file.discard() }
        CrashPoints.reach("replica.promote.created")
        // Holes where the copy is all zero (most of a young pool): the file reads the same.
        guard ftruncate(file.descriptor, off_t(pool.size)) == 0 else {
            throw PMemError.system("truncate", errno: errno, detail: path)
        }
        CrashPoints.reach("replica.promote.sized")
        let chunk = 1 << 20
        let zeros = [UInt8](repeating: 0, count: chunk)
        var offset = 0
        while offset < pool.size {
            let length = min(chunk, pool.size - offset)
            if memcmp(pool.base + offset, zeros, length) != 0 {
                var written = 0
                while written < length {
                    let n = pwrite(
                        file.descriptor, pool.base + offset + written, length - written,
                        off_t(offset + written))
                    guard n > 0 else { throw PMemError.system("write", errno: errno, detail: path) }
                    written += n
                }
                CrashPoints.reach("replica.promote.chunk")
            }
            offset += length
        }
        // The copy holds every transaction through the last applied one: its
        // checkpoint says so, and the promoted heap numbers on from there.
        // (During a newer baseline the copy is an older state: left as it is.)
        if !state.inBaseline {
            for (offset, word) in image.checkpointWords(through: state.lastTransaction) {
                var stored = word
                guard pwrite(file.descriptor, &stored, 8, off_t(offset)) == 8 else {
                    throw PMemError.system("write", errno: errno, detail: path)
                }
            }
        }
        guard fsync(file.descriptor) == 0 else { throw PMemError.system("fsync", errno: errno, detail: path) }
        CrashPoints.reach("replica.promote.synced")
        try file.link(at: path)
        CrashPoints.reach("replica.promote.linked")
        return Promotion(
            pool: path, poolUUID: image.uuid.uuidString, sequence: state.appliedSequence,
            transaction: state.lastTransaction, baselineIncomplete: state.inBaseline)
    }
}

extension ReplicaStore {
    /// The state of the store in `directory`, read without taking its lock
    /// (a serving replica may be applying meanwhile; the slots make the read
    /// consistent) and without creating or writing anything. An empty
    /// directory is a new store (nothing applied); a missing one throws
    /// `notFound`, a damaged store `corrupt`.
    public static func readState(directory: String) throws -> ReplicaState {
        switch try ReplicaStoreDirectory.inspect(directory) {
        case .missing:
            throw PMemError(
                .notFound, operation: "replica status", detail: "no replica store at \(directory)")
        case .new:
            return ReplicaState()
        case .existing:
            let mapping = try PMemMapping(path: "\(directory)/state", options: .init(readOnly: true))
            return try ReplicaState.read(ReplicaState.slots(in: mapping), path: "\(directory)/state")
        }
    }
}
