import Foundation

/// Watches trapped flush-hint writes: when each arrived and when its vCPU
/// may resume. Tests use it to check that every write is covered by a
/// propagation that began after it; it must not block.
public protocol VFHAObserver: AnyObject, Sendable {
    /// A write from `vcpu` exited to the VMM (called before the coalescer sees it).
    func flushHintWritten(vcpu: Int)
    /// The write from `vcpu` is covered by a finished propagation; the vCPU resumes next.
    func flushHintCompleted(vcpu: Int)
}

/// Turns trapped flush-hint writes from any number of vCPUs into
/// propagations to every physical flush target, combining writes that
/// arrive while a propagation runs.
///
/// A write is covered only by a propagation that begins after it arrives
/// (one already running may have read the WPQ state before the guest's
/// data got there). So a write that finds a propagation running waits for
/// it to end, and then the next propagation, started by one of the waiting
/// vCPUs, covers every write that arrived in the meantime: none is lost
/// and there is never more than one propagation for a batch of waiters.
public final class FlushCoalescer: @unchecked Sendable {
    /// The physical targets each propagation flushes, in order.
    public let targets: [any FlushTarget]
    private let observer: (any VFHAObserver)?
    private let condition = NSCondition()

    // Guarded by `condition`.
    private var started: UInt64 = 0  // propagations begun
    private var finished: UInt64 = 0  // propagations ended (they end in order)
    private var running = false
    private var failures: [UInt64: any Error] = [:]  // by propagation; rare, and they stop the VM
    private var counters = Statistics()

    /// What the coalescer has done so far.
    public struct Statistics: Sendable, Equatable {
        /// Flush-hint writes handed to it (trapped writes).
        public var writes = 0
        /// Propagations run (each flushes every target once).
        public var propagations = 0
        /// Target flushes run: propagations × targets.
        public var targetFlushes = 0
    }

    /// A coalescer over `targets`.
    public init(targets: [any FlushTarget], observer: (any VFHAObserver)? = nil) {
        self.targets = targets
        self.observer = observer
    }

    /// What it has done so far.
    public var statistics: Statistics { condition.withLock { counters } }

    /// Returns once a propagation that began after this call has flushed
    /// every target; throws that propagation's error if it failed.
    public func flushHintWritten(vcpu: Int) throws {
        observer?.flushHintWritten(vcpu: vcpu)
        condition.lock()
        counters.writes += 1
        let needed = started + 1
        while finished < needed {
            if running {
                condition.wait()
                continue
            }
            // No propagation is running: this vCPU runs the next one for every waiter.
            running = true
            started += 1
            let mine = started
            condition.unlock()
            var failed: (any Error)?
            do {
                for target in targets { try target.flush() }
            } catch {
                failed = error
            }
            condition.lock()
            running = false
            finished = mine
            counters.propagations += 1
            counters.targetFlushes += targets.count
            if let failed { failures[mine] = failed }
            condition.broadcast()
        }
        let error = failures[needed]
        condition.unlock()
        if let error { throw error }
        observer?.flushHintCompleted(vcpu: vcpu)
    }
}
