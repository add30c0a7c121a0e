internal import CFaultShim
import Foundation
import PMemKit

/// The handler thread: it serves userfaultfd (running built-in actions in C)
/// and runs Swift fault handlers, never in signal context, while each
/// faulting thread waits in the fault path for the decision.
///
/// One per process, started when the first range needs it.
final class FaultService: @unchecked Sendable {
    static let shared = FaultService()

    private struct Entry {
        weak var range: ProtectedRange?
        var handler: (any FaultHandler)?
    }

    private let lock = NSLock()
    private var entries: [Int32: Entry] = [:]
    private var started = false

    /// Starts the thread once; returns when it is ready to take faults.
    func start() throws {
        try lock.withLock {
            guard !started else { return }
            let ready = DispatchSemaphore(value: 0)
            let result = ResultBox()
            let thread = Thread { [self] in
                result.code = pmk_fault_service_begin()
                ready.signal()
                if result.code == 0 { serve() }
            }
            thread.name = "pmemkit-faults"
            thread.start()
            ready.wait()
            guard result.code == 0 else {
                throw PMemError.system("start the fault handler thread", errno: -result.code)
            }
            started = true
        }
    }

    /// Routes faults of `range` to `handler` (`nil`: built-in actions only).
    func register(_ range: ProtectedRange, handler: (any FaultHandler)?) {
        lock.withLock { entries[range.id] = Entry(range: range, handler: handler) }
    }

    /// Forgets range `id` when its entry is `range`'s (or its range is gone):
    /// never the entry of another range that has taken the id since.
    func unregister(id: Int32, range: ProtectedRange) {
        lock.withLock {
            guard let entry = entries[id], entry.range == nil || entry.range === range else { return }
            entries.removeValue(forKey: id)
        }
    }

    private func serve() {
        while true {
            var event = pmk_fault_event()
            let rc = pmk_fault_wait(&event, -1)
            if rc == 1 {
                _ = pmk_fault_resolve(&event, decide(event).shim)
            } else if rc < 0 && rc != -EINTR {
                // A failing poll or read would otherwise spin this thread.
                usleep(1000)
            }
        }
    }

    /// The handler's decision. A fault in a range removed meanwhile is
    /// retried (its memory is read-write again, or the range now there
    /// faults anew), and so is one that came
    /// before its handler was registered (a pkeys range faults from the
    /// moment it is added).
    private func decide(_ event: pmk_fault_event) -> FaultDecision {
        let entry = lock.withLock { entries[event.range] }
        // A range that took the id of the faulting one since is not asked about a fault outside it.
        guard let range = entry?.range, let handler = entry?.handler,
            let address = UnsafeRawPointer(bitPattern: UInt(event.address)), range.contains(address)
        else { return .retry }
        return handler.handle(range.fault(from: event), in: range)
    }
}

/// The thread's start-up result, handed back across the semaphore.
private final class ResultBox: @unchecked Sendable {
    var code: Int32 = 0
}
