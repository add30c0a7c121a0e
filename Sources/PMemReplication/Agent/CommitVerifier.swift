import Foundation
import Logging
import PMemHeap
import PMemKit

/// Decides which of the log's records the agent may ship, so that every
/// replica holds a prefix of the primary's committed history.
///
/// A transaction's log record is streamed before the heap streams its own
/// redo record (both before one fence), so the log can hold a transaction
/// the primary's pool never got: the application killed between the two
/// stores, or power lost before the fence. The agent therefore ships a
/// transaction record only once the pool shows it committed, by the rule
/// recovery follows (`PoolCommitProbe`: its sequence is at most the
/// checkpoint, or its sealed redo record is in its lane). Evidence counts
/// only while it is the evidence of the session that wrote the records:
///
/// - the attachment says the application detached cleanly: every record
///   before the detach is committed;
/// - the attached process still runs after the pool was read: it holds the
///   pool open (locked), so no other process can have recovered it;
/// - the process ended: the pool is read once more under a shared lock (no
///   one can open it meanwhile), if its state is still the one the
///   application had open (or that of its clean close); what it then lacks
///   is never shipped.
///
/// Records written before a later baseline that were not shown committed
/// are skipped: a baseline (written when the application attaches after a
/// crash) rebuilds the replica's whole copy, and the session that wrote
/// them ended without evidence. Replicas continue at that baseline.
///
/// Used on the agent's event loop only.
final class CommitVerifier {
    private let region: LogRegion
    private let logger: Logger
    /// Every record up to this sequence may be shipped.
    private(set) var verifiedThrough: UInt64
    /// The heap transaction number of the record `heldThrough`, the last
    /// one replicas hold (0: none seen; a skipped record never sets it).
    private(set) var verifiedTransaction: UInt64 = 0
    /// Runs of records replicas skip, each up to the baseline that supersedes it.
    private(set) var skips: [(first: UInt64, baseline: UInt64)] = []
    /// The attachment (slot generation) whose session ended and was settled:
    /// what its pool lacked stays unshipped until a new attachment.
    private var settledAttachment: UInt64?
    private var probe: PoolCommitProbe?
    /// A pidfd of the attached process, to tell that it ended (a zombie has).
    private var watched: (pid: Int32, fd: Int32?)?
    /// Problems already logged (each once).
    private var reported: Set<String> = []

    /// A verifier for `region`'s records after `verifiedThrough` (those
    /// before were shipped; `verifiedTransaction` is its transaction, 0 unknown).
    init(region: LogRegion, verifiedThrough: UInt64, verifiedTransaction: UInt64 = 0, logger: Logger) {
        self.region = region
        self.verifiedThrough = verifiedThrough
        self.verifiedTransaction = verifiedTransaction
        self.logger = logger
    }

    deinit { if let fd = watched?.fd { close(fd) } }

    /// Reads the log's new records into `index` and moves `verifiedThrough`
    /// as far as the evidence allows; returns how many records were new.
    ///
    /// The attachment is read before the records: any baseline of the
    /// attachment read was appended before it, so it is in `index` when the
    /// records before it are weighed.
    @discardableResult
    func advance(_ index: inout RecordIndex) -> Int {
        let attached = region.attachmentRecord()
        let found = index.refresh()
        supersede(index)
        guard let (attachment, generation) = attached, verifiedThrough < index.lastSequence else {
            return found
        }
        if attachment.cleanlyDetached {
            // Every record written before a clean detach was committed.
            if region.attachmentRecord()?.generation == generation { move(to: index.lastSequence, index) }
            return found
        }
        if settledAttachment == generation { return found }
        if isRunning(attachment.processID) {
            let proven = prove(index, with: probe(for: attachment))
            // Evidence of the session that still runs (and so still holds the pool open).
            if isRunning(attachment.processID), region.attachmentRecord()?.generation == generation {
                move(to: proven, index)
            }
        } else {
            settle(index, attachment: attachment, generation: generation)
        }
        return found
    }

    /// The baseline a replica about to receive `sequence` continues at, when
    /// `sequence` lies in a skipped run.
    func skip(at sequence: UInt64) -> UInt64? {
        skips.first { $0.first <= sequence && sequence < $0.baseline }?.baseline
    }

    /// The last record a replica is to hold: `verifiedThrough`, or, when
    /// that ends a skipped run whose baseline is not shippable yet, the
    /// record before the run (a replica that holds it holds everything it
    /// may: the run is never sent, and the drain must not wait for it).
    var heldThrough: UInt64 {
        var held = verifiedThrough
        while let run = skips.last(where: { $0.first <= held && held < $0.baseline }) { held = run.first - 1 }
        return held
    }

    /// Forgets skipped runs wholly before `sequence` (reclaimed).
    func forget(before sequence: UInt64) {
        skips.removeAll { $0.baseline <= sequence }
    }

    // MARK: Steps

    /// Skips the unverified records before the last baseline in `index`.
    private func supersede(_ index: RecordIndex) {
        let first = verifiedThrough + 1
        guard let baseline = index.latestBaseline, baseline > first else { return }
        skips.append((first, baseline))
        // Skipped, not shipped: the last transaction replicas hold stays
        // that of the record before the run (a skipped one never committed).
        verifiedThrough = baseline - 1
        let what =
            "records \(first)...\(baseline - 1) were not shown committed before the application attached again"
        logger.notice("\(what); replicas continue at the baseline at \(baseline)")
    }

    /// Moves the frontier (forward only) to `sequence`, a record in `index`.
    private func move(to sequence: UInt64, _ index: RecordIndex) {
        guard sequence > verifiedThrough else { return }
        verifiedThrough = sequence
        verifiedTransaction = index.entry(sequence)?.transaction ?? verifiedTransaction
    }

    /// The last sequence from `verifiedThrough` on up to which every
    /// transaction is shown committed in the pool (records of other kinds
    /// need no evidence; without a probe no transaction is shown).
    private func prove(_ index: RecordIndex, with probe: PoolCommitProbe?) -> UInt64 {
        var proven = verifiedThrough
        while proven < index.lastSequence, let entry = index.entry(proven + 1) {
            if entry.kind == .transaction {
                guard let probe, let payload = index.payload(of: proven + 1, in: region),
                    let record = PoolWritesPayload.redoRecord(in: payload), probe.holds(record: record)
                else { break }
            }
            proven += 1
        }
        return proven
    }

    /// The attached process ended: reads the pool as it left it, once, and
    /// fixes what of its session may ever be shipped.
    private func settle(_ index: RecordIndex, attachment: LogRegion.Attachment, generation: UInt64) {
        guard let path = region.poolPath() else { return report("the log names no pool") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return report("cannot open the pool \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        // Shared: while it is held no process can open the pool and recover it.
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return }
        defer { flock(fd, LOCK_UN) }
        guard let probe = probe(for: attachment), let state = probe.state() else { return }
        if state.cleanShutdown && state.generation == attachment.poolGeneration + 1 {
            // Closed cleanly by the application: every commit completed.
            move(to: index.lastSequence, index)
        } else if !state.cleanShutdown && state.generation == attachment.poolGeneration {
            move(to: prove(index, with: probe), index)
        } else {
            // Opened again since: what the session left cannot be told; the next attach's baseline supersedes it.
            return
        }
        settledAttachment = generation
        if verifiedThrough < index.lastSequence {
            let what =
                "records \(verifiedThrough + 1)...\(index.lastSequence) hold transactions the pool does not"
            logger.warning("\(what) (the application ended mid-commit): they are not shipped")
        }
    }

    // MARK: Sources of evidence

    /// The attached pool, opened read-only (again when the attachment names another pool).
    private func probe(for attachment: LogRegion.Attachment) -> PoolCommitProbe? {
        if let probe, probe.uuid == attachment.poolUUID { return probe }
        probe = nil
        guard let path = region.poolPath() else {
            report("the log names no pool (attached by an earlier version?)")
            return nil
        }
        do {
            let opened = try PoolCommitProbe(path: path)
            guard opened.uuid == attachment.poolUUID else {
                report("\(path) is not the attached pool \(attachment.poolUUID)")
                return nil
            }
            probe = opened
            return opened
        } catch {
            report("cannot read the pool: \(error)")
            return nil
        }
    }

    /// Whether `pid` (the attached application) still runs; 0 (not recorded) counts as ended.
    private func isRunning(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if watched?.pid != pid {
            if let fd = watched?.fd { close(fd) }
            watched = (pid, ProcessWatcher.pidfd(pid))
            if watched?.fd == nil && errno == ESRCH { return false }
        }
        if let fd = watched?.fd { return !ProcessWatcher.hasEnded(pidfd: fd) }
        return ProcessWatcher.isRunning(pid)
    }

    /// Logs a reason transactions cannot be shipped yet (once each).
    private func report(_ problem: String) {
        guard reported.insert(problem).inserted else { return }
        logger.warning("transactions are not shipped until the pool shows them committed: \(problem)")
    }
}
