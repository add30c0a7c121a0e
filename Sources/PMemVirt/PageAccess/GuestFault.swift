internal import CKVMShim

/// A guest access that its page's access forbids, as a fault handler sees it.
public struct GuestFault: Sendable, Equatable {
    /// The vCPU that made it.
    public var vcpu: Int
    /// The guest-physical address.
    public var gpa: UInt64
    /// A write (else a read).
    public var isWrite: Bool
    /// Bytes accessed, 1 to 8.
    public var length: Int
    /// What a write stores (little-endian, zero-extended); 0 for a read.
    public var value: UInt64
    /// Where the guest was: the faulting instruction for a read, the next one for a write.
    public var rip: UInt64
    /// The access of the page when it faulted.
    public var access: GuestAccess

    /// A fault.
    public init(
        vcpu: Int, gpa: UInt64, isWrite: Bool, length: Int, value: UInt64, rip: UInt64, access: GuestAccess
    ) {
        self.vcpu = vcpu
        self.gpa = gpa
        self.isWrite = isWrite
        self.length = length
        self.value = value
        self.rip = rip
        self.access = access
    }
}

/// What a fault handler (the guest's or the host's) decides (`pmk_guest_fault_decision`).
public enum GuestFaultDecision: String, Sendable, Codable, CaseIterable {
    /// Try the access again under the access its page has now (the handler
    /// changed it): a read runs again, a write's data is stored. Still
    /// forbidden, it is a new fault.
    case retry
    /// Make the faulting page read-write, then retry.
    case allow
    /// Finish the access without effect: a write is dropped, a read reads 0.
    case skip
    /// End the VM; the run fails naming the fault.
    case end

    /// The decision a guest handler returned; `nil` for a number the ABI does not define.
    public init?(guest value: UInt64) {
        switch value {
        case UInt64(PMK_GUEST_FAULT_RETRY.rawValue): self = .retry
        case UInt64(PMK_GUEST_FAULT_ALLOW.rawValue): self = .allow
        case UInt64(PMK_GUEST_FAULT_SKIP.rawValue): self = .skip
        case UInt64(PMK_GUEST_FAULT_END.rawValue): self = .end
        default: return nil
        }
    }
}

/// A host-side fault handler: a program outside the VM deciding about the
/// guest's faults in ranges that have no guest handler. It runs on the
/// faulting vCPU's thread while that vCPU waits; it may change any page's
/// access through `pages`.
public protocol GuestFaultHandler: Sendable {
    /// Decides about `fault`.
    func handle(_ fault: GuestFault, pages: GuestPageAccess) -> GuestFaultDecision

    /// The VM is stopping (its timeout, or another vCPU's error): end every
    /// decision in progress now (each then answers `end`), and answer `end`
    /// to every later fault at once. Returns what was cut short, for the
    /// run's error (`"the fault command 'sleep 1000'"`), or `nil` when no
    /// decision was in progress. A handler that cannot be cut short keeps the
    /// default, which does nothing; it must then return on its own.
    func stop() -> String?
}

extension GuestFaultHandler {
    /// Nothing to cut short.
    public func stop() -> String? { nil }
}

/// A closure as a `GuestFaultHandler`.
public struct ClosureGuestFaultHandler: GuestFaultHandler {
    private let body: @Sendable (GuestFault, GuestPageAccess) -> GuestFaultDecision

    /// Wraps `body`.
    public init(_ body: @escaping @Sendable (GuestFault, GuestPageAccess) -> GuestFaultDecision) {
        self.body = body
    }

    /// Calls the closure.
    public func handle(_ fault: GuestFault, pages: GuestPageAccess) -> GuestFaultDecision {
        body(fault, pages)
    }
}

/// What page access did in a VM so far.
public struct GuestFaultStatistics: Sendable, Equatable, Codable {
    /// Accesses the policy forbade (a retried access that is still forbidden counts again).
    public var faults = 0
    /// Calls of the host-side handler.
    public var hostHandlerCalls = 0
    /// Entries into a guest handler.
    public var guestHandlerEntries = 0
    /// Access changes made (by hypercall or by the host).
    public var accessChanges = 0
    /// `KVM_SET_USER_MEMORY_REGION` calls those changes took.
    public var memslotCalls = 0

    /// Nothing yet.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case faults
        case hostHandlerCalls = "host_handler_calls"
        case guestHandlerEntries = "guest_handler_entries"
        case accessChanges = "access_changes"
        case memslotCalls = "memslot_calls"
    }
}
