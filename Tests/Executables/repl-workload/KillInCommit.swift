import Foundation
import PMemHeap

/// Kills this process inside commit `sequence`: after the replicator's
/// fence observer streamed the transaction's log record, before the heap
/// streams its own redo record. That is the window a killed application can
/// leave behind: the log holds a transaction the pool does not. Registered
/// after the replicator, so it runs after it (`REPL_KILL_AT_COMMIT`).
final class KillInCommit: FenceObserver {
    let sequence: UInt64

    init(sequence: UInt64) { self.sequence = sequence }

    func committing(_ committed: CommittedTransaction) {
        if committed.sequence == sequence { kill(getpid(), SIGKILL) }
    }
}
