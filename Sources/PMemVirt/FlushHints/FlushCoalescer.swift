import Foundation

/// Watches the coalescer: when each trapped flush-hint write counts as
/// arrived, when each propagation begins and ends, and which propagation
/// let each write's vCPU resume. Tests use it to check that every write is
/// covered by a propagation that began after it.
///
/// Every call is made with the coalescer's lock held, so the events are in
/// the order the coalescer decided on; an observer must return quickly and
/// must not call back into the coalescer.
public protocol VFHAObserver: AnyObject, Sendable {
    /// A write from `vcpu` has arrived; only propagations that begin after this cover it.
    func flushHintArrived(vcpu: Int)
    /// Propagation `number` (from 1) begins flushing every target.
    func propagationBegan(_ number: UInt64)
    /// Propagation `number` has flushed every target.
    func propagationEnded(_ number: UInt64)
    /// The write from `vcpu` is covered by the ended propagation `number`; its vCPU resumes next.
    func flushHintCompleted(vcpu: Int, coveredBy number: UInt64)
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

        /// Counts (tests compare against these).
        public init(writes: Int = 0, propagations: Int = 0, targetFlushes: Int = 0) {
            self.writes = writes
            self.propagations = propagations
            self.targetFlushes = targetFlushes
        }
    }

    /// Whether writes that arrive during a propagation share the next one.
    public let combining: Bool

    /// A coalescer over `targets`. With `combining` off, every write runs its
    /// own propagation on its own vCPU thread, concurrently with others (what
    /// a file-backed virtual NVDIMM does per flush request): the baseline.
    public init(targets: [any FlushTarget], observer: (any VFHAObserver)? = nil, combining: Bool = true) {
        self.targets = targets
        self.observer = observer
        self.combining = combining
    }

    /// What it has done so far.
    public var statistics: Statistics { condition.withLock { counters } }

    /// Returns once a propagation that began after this call has flushed
    /// every target; throws that propagation's error if it failed.
    public func flushHintWritten(vcpu: Int) throws {
        guard combining else { return try propagateAlone() }
        condition.lock()
        counters.writes += 1
        observer?.flushHintArrived(vcpu: vcpu)
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
            observer?.propagationBegan(mine)
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
            observer?.propagationEnded(mine)
            condition.broadcast()
        }
        let error = failures[needed]
        if error == nil { observer?.flushHintCompleted(vcpu: vcpu, coveredBy: needed) }
        condition.unlock()
        if let error { throw error }
    }

    /// One write, one propagation, no waiting for others (no observer events).
    private func propagateAlone() throws {
        condition.withLock {
            counters.writes += 1
            counters.propagations += 1
            counters.targetFlushes += targets.count
        }
        for target in targets { try target.flush() }
    }
}
