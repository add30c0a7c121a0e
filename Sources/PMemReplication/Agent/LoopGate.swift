import Foundation
import NIOCore

/// Hands work from other threads (signals, the lease keeper, the process
/// watcher, the power monitor, callers) to the agent's event loop while the
/// loop runs, and drops it after `run` shut the loop down: a watcher that
/// outlives the agent (its application killed after the term ended) must
/// not schedule on a dead loop.
final class LoopGate: @unchecked Sendable {
    private let loop: EventLoop
    private let lock = NSLock()
    private var closed = false

    init(_ loop: EventLoop) { self.loop = loop }

    /// Runs `body` on the loop, unless the gate is closed.
    func execute(_ body: @escaping @Sendable () -> Void) {
        lock.withLock { if !closed { loop.execute(body) } }
    }

    /// Drops everything handed over from now on (before the loop shuts down).
    func close() { lock.withLock { closed = true } }
}
