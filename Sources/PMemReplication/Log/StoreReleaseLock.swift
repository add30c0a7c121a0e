import CPMemHeap
import Foundation

/// A mutual-exclusion lock whose unlock is a plain store (a release store
/// on x86), not a locked instruction: the replicated commit unlocks after
/// streaming its log record, and on some CPUs a locked instruction waits for
/// pending streaming stores to drain, which the commit's fence does anyway.
///
/// Waiters spin briefly, then yield the CPU (there is no wake-up to send, so
/// unlocking needs no atomic read-modify-write). Critical sections are short
/// (building and streaming one record); the writer's wait for ring room
/// unlocks while it sleeps.
struct StoreReleaseLock {
    private let word: UnsafeMutablePointer<UInt64>

    init() {
        word = .allocate(capacity: 1)
        word.initialize(to: 0)
    }

    func deallocate() { word.deallocate() }

    @inline(__always) func lock() {
        if pmh_cas(word, 0, 1) == 0 { contended() }
    }

    @inline(__always) func unlock() { pmh_store_release(word, 0) }

    @inline(never) private func contended() {
        var spins = 0
        while true {
            if pmh_load_acquire(word) == 0 && pmh_cas(word, 0, 1) != 0 { return }
            spins += 1
            if spins < 200 {
                pmh_cpu_relax()
            } else {
                sched_yield()
            }
        }
    }
}
