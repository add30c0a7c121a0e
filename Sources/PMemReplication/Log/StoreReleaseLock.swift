import Foundation
@_spi(Primitives) import PMemKit

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
        if !Atomic64.compareExchange(word, expected: 0, desired: 1) { contended() }
    }

    @inline(__always) func unlock() { Atomic64.storeRelease(word, 0) }

    @inline(never) private func contended() {
        var spins = 0
        while true {
            if Atomic64.loadAcquire(word) == 0 && Atomic64.compareExchange(word, expected: 0, desired: 1) {
                return
            }
            spins += 1
            if spins < 200 {
                Atomic64.relax()
            } else {
                sched_yield()
            }
        }
    }
}
