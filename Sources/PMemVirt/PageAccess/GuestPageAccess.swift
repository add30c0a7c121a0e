internal import CKVMShim
import Foundation
import PMemKit

/// Program-defined page access in a VM: a guest sets access (none, read,
/// read-write) on its own pages by hypercall, with no guest OS; the VMM
/// applies it in the second-level mapping (memslots split, made read-only
/// or removed) and sends each forbidden access to the handler for its
/// range: a guest function the guest registered (entered with the fault
/// details on the faulting vCPU) or the host-side handler.
///
/// It is the MMIO device of guest RAM and vPMem, where exits happen only
/// when access was taken away (or while memslots change), and it answers
/// hypercalls `PMK_HC_ACCESS_SET`, `PMK_HC_FAULT_HANDLER` and `PMK_HC_FAULT_RETURN`.
public final class GuestPageAccess: MMIOHandler, @unchecked Sendable {
    /// A guest handler's registration.
    struct GuestHandler: Equatable {
        var range: Range<UInt64>
        var entry: UInt64
        var returnStub: UInt64
    }

    /// A fault a guest handler is working on: what to restore when it returns.
    struct FaultContext {
        var fault: GuestFault
        /// Registers at the exit: a read runs again from here.
        var before: kvm_regs
        /// Registers once the exited instruction completed: a write (or a skip) goes on from here.
        var after: kvm_regs
        /// A write's pieces, stored when it is retried and allowed.
        var writes: [MMIOAccess]
        var handler: GuestHandler
    }

    /// Deepest nesting of guest handlers (a handler that faults enters one again).
    static let maxDepth = 8

    let memory: GuestMemory
    private let settable: [Range<UInt64>]
    private let hostHandler: (any GuestFaultHandler)?
    let lock = NSLock()
    private var handlers: [GuestHandler] = []
    /// Faults each vCPU's guest handlers are working on, innermost last.
    var contexts: [Int: [FaultContext]] = [:]
    var counters = GuestFaultStatistics()
    /// Runs a memslot change with every vCPU out of the guest (set by the VM).
    var pauseVCPUs: (@Sendable (() throws -> Int) throws -> Int)?

    init(memory: GuestMemory, layout: GuestLayout, hostHandler: (any GuestFaultHandler)?) {
        self.memory = memory
        self.hostHandler = hostHandler
        var settable = [GuestLayout.imageAddress..<layout.ramSize]
        if layout.vpmemSize > 0 {
            settable.append(GuestLayout.vpmemAddress..<(GuestLayout.vpmemAddress + layout.vpmemSize))
        }
        self.settable = settable
    }

    /// The guest-physical ranges whose access may change: RAM from the
    /// image up (the page tables, GDT and boot information below it stay),
    /// and vPMem.
    public var ranges: [Range<UInt64>] { settable }

    /// What happened so far.
    public var statistics: GuestFaultStatistics { lock.withLock { counters } }

    /// The VM is stopping: the host's handler ends what it is deciding (a
    /// fault command is killed). Returns what was cut short, if anything.
    func stopHostHandler() -> String? { hostHandler?.stop() }

    /// The access at `gpa` now; `nil` outside guest memory.
    public func access(at gpa: UInt64) -> GuestAccess? { memory.access(at: gpa) }

    /// Gives `[gpa, gpa + length)` (whole pages inside `ranges`) the access
    /// `access`, as `PMK_HC_ACCESS_SET` does; the host may protect guest
    /// pages too. vCPUs may be running.
    public func setAccess(gpa: UInt64, length: UInt64, to access: GuestAccess) throws {
        guard length > 0, settable.contains(where: { gpa >= $0.lowerBound && gpa &+ length <= $0.upperBound })
        else {
            throw PMemError(
                .invalidArgument, operation: "set guest access", errno: EPERM,
                detail: "0x\(String(gpa, radix: 16)) + \(length) bytes is not inside guest RAM above "
                    + "0x\(String(GuestLayout.imageAddress, radix: 16)) or vPMem")
        }
        let change = { try self.memory.setAccess(gpa: gpa, length: length, access: access) }
        let calls = try pauseVCPUs?(change) ?? change()
        lock.withLock {
            counters.accessChanges += 1
            counters.memslotCalls += calls
        }
    }

    /// Answers the page-access hypercalls on `device`.
    func register(on device: HypercallDevice) {
        device.register(UInt32(PMK_HC_ACCESS_SET.rawValue)) { [unowned self] call, _ in
            HypercallReply(result: setAccessForGuest(call.arguments))
        }
        device.register(UInt32(PMK_HC_FAULT_HANDLER.rawValue)) { [unowned self] call, _ in
            HypercallReply(result: registerHandler(call.arguments))
        }
        device.register(UInt32(PMK_HC_FAULT_RETURN.rawValue)) { [unowned self] call, vcpu in
            try returnFromHandler(decision: call.arguments[0], vcpu: vcpu)
        }
    }

    /// An exit in guest memory: an access the policy forbids (or one that
    /// met memslots being changed, which goes through once they are).
    public func handleMMIO(_ access: MMIOAccess, vcpu: VirtualCPU) throws -> ExitAction {
        if let done = performIfAllowed(access) { return done }
        var fault = GuestFault(
            vcpu: vcpu.index, gpa: access.gpa, isWrite: access.isWrite, length: access.length,
            value: access.isWrite ? access.value : 0, rip: vcpu.instructionPointer(),
            access: memory.access(at: access.gpa) ?? .none)
        lock.withLock { counters.faults += 1 }
        if let handler = lock.withLock({ handlers.first { $0.range.contains(access.gpa) } }) {
            return try enterGuestHandler(handler, fault: fault, access: access, vcpu: vcpu)
        }
        guard let hostHandler else {
            throw VMError.accessFault(
                vcpu: vcpu.index, gpa: access.gpa, isWrite: access.isWrite, rip: fault.rip)
        }
        while true {
            lock.withLock { counters.hostHandlerCalls += 1 }
            switch hostHandler.handle(fault, pages: self) {
            case .skip:
                return access.isWrite ? .resume : .resumeWithRead(0)
            case .end:
                throw VMError.faultEnded(
                    vcpu: vcpu.index, gpa: access.gpa, isWrite: access.isWrite, rip: fault.rip,
                    by: (hostHandler as? any CustomStringConvertible)?.description
                        ?? "the host's fault handler")
            case .allow:
                try allowPage(of: access.gpa)
            case .retry:
                break
            }
            if let done = performIfAllowed(access) { return done }
            guard !vcpu.isStopping else { return .stop }
            lock.withLock { counters.faults += 1 }
            fault.access = memory.access(at: access.gpa) ?? .none
        }
    }

    /// Does `access` for the guest if its page allows it now: a write is
    /// stored in the page's host memory, a read returns what is there.
    func performIfAllowed(_ access: MMIOAccess) -> ExitAction? {
        memory.withCurrentTable { table in
            guard let slot = table.slot(containing: access.gpa), slot.access.allows(write: access.isWrite),
                let host = table.host(gpa: access.gpa, length: UInt64(access.length))
            else { return nil }
            if access.isWrite {
                withUnsafeBytes(of: access.value.littleEndian) { bytes in
                    host.copyMemory(from: bytes.baseAddress!, byteCount: access.length)
                }
                return .resume
            }
            var value: UInt64 = 0
            withUnsafeMutableBytes(of: &value) {
                $0.copyMemory(from: UnsafeRawBufferPointer(start: host, count: access.length))
            }
            return .resumeWithRead(UInt64(littleEndian: value))
        }
    }

    /// Makes the page holding `gpa` read-write (the `allow` decision).
    func allowPage(of gpa: UInt64) throws {
        let page = gpa & ~(GuestLayout.pageSize - 1)
        try setAccess(gpa: page, length: GuestLayout.pageSize, to: .readWrite)
    }

    // MARK: hypercalls

    /// `PMK_HC_ACCESS_SET`: 0 or a negative errno for the guest.
    private func setAccessForGuest(_ arguments: [UInt64]) -> Int32 {
        guard let access = GuestAccess(guest: arguments[2]) else { return -EINVAL }
        do {
            try setAccess(gpa: arguments[0], length: arguments[1], to: access)
            return 0
        } catch let error as PMemError {
            return -(error.errno ?? EINVAL)
        } catch {
            return -EIO
        }
    }

    /// `PMK_HC_FAULT_HANDLER`: registers (or, with entry 0, removes) a guest handler.
    private func registerHandler(_ arguments: [UInt64]) -> Int32 {
        let (gpa, length, entry, stub) = (arguments[0], arguments[1], arguments[2], arguments[3])
        guard length > 0, gpa &+ length > gpa else { return -EINVAL }
        let range = gpa..<(gpa + length)
        return lock.withLock {
            if entry == 0 {
                handlers.removeAll { $0.range.overlaps(range) }
                return 0
            }
            guard stub != 0 else { return -EINVAL }
            guard !handlers.contains(where: { $0.range.overlaps(range) }) else { return -EEXIST }
            handlers.append(GuestHandler(range: range, entry: entry, returnStub: stub))
            return 0
        }
    }
}
