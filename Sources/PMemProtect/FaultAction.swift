internal import CFaultShim

/// What a handler decides about a fault.
public enum FaultDecision: String, Sendable, Equatable {
    /// Run the access again under the range's access now: the handler has
    /// changed it (`range.setAccess(.readWrite)`), or wants the fault again.
    case retry
    /// Lift the range's protection (read-write), then run the access again.
    case allow
    /// Report the fault and end the process with SIGSEGV: the access never happens.
    case deny

    var shim: pmk_fault_decision {
        switch self {
        case .retry: return PMK_DECISION_RETRY
        case .allow: return PMK_DECISION_ALLOW
        case .deny: return PMK_DECISION_DENY
        }
    }
}

/// A fault handler written in Swift. It runs on PMemProtect's handler
/// thread, never in signal context, while the faulting thread waits for
/// its decision; it may take locks, allocate and change any range's access.
/// It must not touch protected memory itself (a SIGSEGV-path fault on the
/// handler thread is denied; a userfaultfd one would wait for ever), nor
/// wait for a lock the faulting code might hold.
public protocol FaultHandler: Sendable {
    /// Decides about `fault` in `range`.
    func handle(_ fault: PageFault, in range: ProtectedRange) -> FaultDecision
}

/// A closure as a `FaultHandler`.
public struct ClosureFaultHandler: FaultHandler {
    private let body: @Sendable (PageFault, ProtectedRange) -> FaultDecision

    /// Wraps `body`.
    public init(_ body: @escaping @Sendable (PageFault, ProtectedRange) -> FaultDecision) {
        self.body = body
    }

    /// Calls the closure.
    public func handle(_ fault: PageFault, in range: ProtectedRange) -> FaultDecision {
        body(fault, range)
    }
}

/// What happens on a fault in a range. Every fault is counted (`faults`).
///
/// The built-in actions run in C inside the fault path (the SIGSEGV
/// handler of the faulting thread, or the handler thread for
/// userfaultfd), async-signal-safe; a handler runs on the handler thread.
public enum FaultAction: Sendable {
    /// Count it and lift the protection of the faulting page only (dirty
    /// tracking: each page faults once until the range is protected again;
    /// with pkeys, whose keys cover a whole range, the faulting thread gets the key).
    case count
    /// Count it and lift the protection of the whole range (read-write;
    /// with pkeys, for the faulting thread).
    case allow
    /// Count it, report it (one line on stderr: address, range, object,
    /// thread, instruction) and end the process with SIGSEGV.
    case deny
    /// Hand it to `handler` on the handler thread and do what it decides.
    case handler(any FaultHandler)

    /// A closure handler.
    public static func handled(
        _ body: @escaping @Sendable (PageFault, ProtectedRange) -> FaultDecision
    ) -> FaultAction {
        .handler(ClosureFaultHandler(body))
    }

    var shim: pmk_fault_action {
        switch self {
        case .count: return PMK_ACTION_COUNT
        case .allow: return PMK_ACTION_ALLOW
        case .deny: return PMK_ACTION_DENY
        case .handler: return PMK_ACTION_DELEGATE
        }
    }

    var handler: (any FaultHandler)? {
        if case .handler(let handler) = self { return handler }
        return nil
    }
}
