/// What a run of the `access` guest did (`pmemctl vm access --json`): the
/// faults its protected pages took, who handled them and what the access
/// changes cost in memslots.
public struct VMAccessReport: Codable, Sendable, Equatable {
    /// vCPUs.
    public var vcpus: Int
    /// Pages each vCPU protected.
    public var pagesPerVCPU: UInt64
    /// The access the pages got.
    public var access: GuestAccess
    /// `write` or `read`: how each page was touched.
    public var touch: String
    /// `guest` (the program's own handler), `host` or the host command.
    public var handler: String
    /// What the handler answered; `nil` when a host command answered each
    /// fault itself.
    public var answer: GuestFaultDecision?
    /// Accesses the policy forbade.
    public var faults: Int
    /// Entries into the guest's handler.
    public var guestHandlerEntries: Int
    /// Calls of the host's handler.
    public var hostHandlerCalls: Int
    /// Access changes (hypercalls and host calls).
    public var accessChanges: Int
    /// `KVM_SET_USER_MEMORY_REGION` calls those took.
    public var memslotCalls: Int
    /// Checks the guest saw fail (data, fault details); 0 when all held.
    public var guestErrors: UInt64
    /// Host nanoseconds the whole run took, VM start and end included.
    public var wallNs: UInt64

    enum CodingKeys: String, CodingKey {
        case vcpus, access, touch, handler, answer, faults
        case pagesPerVCPU = "pages_per_vcpu"
        case guestHandlerEntries = "guest_handler_entries"
        case hostHandlerCalls = "host_handler_calls"
        case accessChanges = "access_changes"
        case memslotCalls = "memslot_calls"
        case guestErrors = "guest_errors"
        case wallNs = "wall_ns"
    }
}

extension AccessWorkload {
    /// Runs the `touch` workload with `configuration` (its boot arguments
    /// are replaced; its `faultHandler` is the host's, named `handlerName`
    /// in the report). Throws when a vCPU's program fails, or the run does
    /// (a handler that ends the VM).
    public func run(_ configuration: VMConfiguration, handlerName: String, kvm: KVM? = nil) throws
        -> VMAccessReport
    {
        var configuration = configuration
        configuration.bootArguments = bootArguments
        let vm = try VirtualMachine(configuration: configuration, kvm: kvm)
        let run = try vm.run(.access)
        if let failed = run.vcpus.first(where: { ($0.exitStatus ?? 0) != 0 }) {
            throw VMError.guestFailed(vcpu: failed.index, status: failed.exitStatus ?? 0, log: failed.log)
        }
        let stats = vm.pageAccess.statistics
        return VMAccessReport(
            vcpus: run.vcpus.count, pagesPerVCPU: pagesPerVCPU, access: access,
            touch: writes ? "write" : "read",
            handler: guestHandler ? "guest" : handlerName, answer: answer, faults: stats.faults,
            guestHandlerEntries: stats.guestHandlerEntries, hostHandlerCalls: stats.hostHandlerCalls,
            accessChanges: stats.accessChanges, memslotCalls: stats.memslotCalls,
            guestErrors: run.total(Self.errorsKey), wallNs: run.wallNanoseconds)
    }

    /// The host-side handler that answers as the guest's own would: `retry`
    /// makes the page read-write first.
    public var matchingHostHandler: any GuestFaultHandler {
        let answer = self.answer
        return ClosureGuestFaultHandler { fault, pages in
            if answer == .retry {
                let page = fault.gpa & ~(GuestLayout.pageSize - 1)
                guard (try? pages.setAccess(gpa: page, length: GuestLayout.pageSize, to: .readWrite)) != nil
                else {
                    return .end
                }
            }
            return answer
        }
    }
}
