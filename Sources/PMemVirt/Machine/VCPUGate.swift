import Foundation

/// Keeps vCPUs out of `KVM_RUN` while memslots change.
///
/// KVM cannot split or re-flag a memslot in place: the old slot is deleted
/// and the pieces installed after it. A vCPU running in between would find
/// no memory at all behind its page tables, code and stack (and
/// triple-fault), not just an exit at the range that changes. So each vCPU
/// enters the gate around every `KVM_RUN`, and a change first closes the
/// gate, kicks the vCPUs inside out of the guest and waits for them to
/// leave (as QEMU inhibits vCPU ioctls around memslot updates).
final class VCPUGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var inside: Set<Int> = []
    private var closed = false

    /// Waits while a change is under way, then counts vCPU `index` as
    /// running; `prepare` runs under the gate's lock (it clears the vCPU's
    /// kick, which a change sets only after taking that lock).
    func enter(_ index: Int, prepare: () -> Void) {
        condition.lock()
        while closed { condition.wait() }
        inside.insert(index)
        prepare()
        condition.unlock()
    }

    /// vCPU `index` is out of `KVM_RUN`.
    func leave(_ index: Int) {
        condition.lock()
        inside.remove(index)
        if closed && inside.isEmpty { condition.broadcast() }
        condition.unlock()
    }

    /// Runs `body` with no vCPU in the guest: closes the gate, kicks the
    /// vCPUs inside with `kick`, waits for them, then reopens it.
    func closed<T>(kick: (Set<Int>) -> Void, _ body: () throws -> T) rethrows -> T {
        condition.lock()
        while closed { condition.wait() }
        closed = true
        let running = inside
        condition.unlock()
        kick(running)
        condition.lock()
        while !inside.isEmpty { condition.wait() }
        condition.unlock()
        defer {
            condition.lock()
            closed = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
