internal import CFaultShim
import Foundation
import PMemKit

/// Memory kept read-only except inside write windows: a write outside
/// every window is a stray write, reported with the object it hit (as the
/// guard's owner describes it), and it never happens — the process ends
/// with SIGSEGV before the store runs. What a persistent heap's guarded
/// mode needs: its objects change only inside transactions.
///
/// Windows are counted. With pkeys a window is the calling thread's own
/// (WRPKRU): other threads' writes are caught even while it is open. With
/// userfaultfd or mprotect the memory is writable while any thread has a
/// window open, and read-only again when the last one closes.
public final class PageGuard: @unchecked Sendable {
    /// The guarded range.
    public private(set) var range: ProtectedRange!
    private let lock = NSLock()
    private var openWindows = 0
    private var writers: [Int32: Int] = [:]

    /// Guards `[base, base + length)` (whole pages); `describe` names what
    /// lies at an address, `onStrayWrite` reports a stray write before the
    /// process ends (by default on stderr).
    public init(
        _ base: UnsafeMutableRawPointer, length: Int, label: String, owner: AnyObject? = nil,
        mechanism: ProtectionMechanism? = nil, protector: PageProtector? = nil,
        describe: @escaping @Sendable (UnsafeRawPointer) -> String? = { _ in nil },
        onStrayWrite: @escaping @Sendable (StrayWrite) -> Void = StrayWrite.reportOnStandardError
    ) throws {
        let protector = try protector ?? PageProtector.shared()
        range = try protector.protect(
            base, length: length, access: .read,
            onFault: .handler(
                GuardHandler(owner: self, describe: describe, onStrayWrite: onStrayWrite)),
            label: label, mechanism: mechanism, owner: owner)
    }

    /// Opens a write window for the calling thread (windows nest).
    public func beginWrites() throws {
        let thread = pmk_fault_thread_id()
        try lock.withLock {
            writers[thread, default: 0] += 1
            if range.mechanism == .pkeys {
                if writers[thread] == 1 { try range.setAccess(.readWrite) }
            } else {
                openWindows += 1
                if openWindows == 1 { try range.setAccess(.readWrite) }
            }
        }
    }

    /// Closes the calling thread's innermost window.
    public func endWrites() throws {
        let thread = pmk_fault_thread_id()
        try lock.withLock {
            guard let depth = writers[thread], depth > 0 else {
                throw PMemError(
                    .invalidArgument, operation: "end writes",
                    detail: "\(range.label): no window open on this thread")
            }
            writers[thread] = depth == 1 ? nil : depth - 1
            if range.mechanism == .pkeys {
                if depth == 1 { try range.setAccess(.read) }
            } else {
                openWindows -= 1
                if openWindows == 0 { try range.setAccess(.read) }
            }
        }
    }

    /// Runs `body` inside a write window.
    public func withWrites<T>(_ body: () throws -> T) throws -> T {
        try beginWrites()
        defer { try? endWrites() }
        return try body()
    }

    /// Whether thread `thread` has a window open.
    func isWriting(_ thread: Int32?) -> Bool {
        guard let thread else { return false }
        return lock.withLock { writers[thread] != nil }
    }
}

/// The guard's fault handler: a writer's fault (a race with a window that
/// just opened) goes through; any other write is a stray write.
private struct GuardHandler: FaultHandler {
    weak var owner: PageGuard?
    let describe: @Sendable (UnsafeRawPointer) -> String?
    let onStrayWrite: @Sendable (StrayWrite) -> Void

    init(
        owner: PageGuard, describe: @escaping @Sendable (UnsafeRawPointer) -> String?,
        onStrayWrite: @escaping @Sendable (StrayWrite) -> Void
    ) {
        self.owner = owner
        self.describe = describe
        self.onStrayWrite = onStrayWrite
    }

    func handle(_ fault: PageFault, in range: ProtectedRange) -> FaultDecision {
        // Gone (a fault racing its release: the memory is read-write again), or a read.
        guard let owner, fault.isWrite else { return .retry }
        // A writer's own fault: its window opened just after the store faulted.
        guard !owner.isWriting(fault.threadID) else { return .allow }
        onStrayWrite(
            StrayWrite(
                address: fault.address, offset: fault.offset, label: fault.label,
                object: UnsafeRawPointer(bitPattern: fault.address).flatMap(describe),
                threadID: fault.threadID, instructionPointer: fault.instructionPointer))
        return .deny
    }
}
