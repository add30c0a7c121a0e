import Foundation

/// Why a guest could not go on: each case names the vCPU and, where KVM
/// says it, the guest RIP, in a one-line description.
public enum VMError: Error, Equatable, CustomStringConvertible, Sendable {
    /// KVM could not emulate an instruction (`KVM_EXIT_INTERNAL_ERROR`,
    /// emulation failure): the RIP and the instruction bytes at it.
    case emulationFailure(vcpu: Int, rip: UInt64, instruction: [UInt8])
    /// Another `KVM_EXIT_INTERNAL_ERROR`: its suberror and data words.
    case internalError(vcpu: Int, suberror: UInt32, rip: UInt64, data: [UInt64])
    /// The guest triple-faulted (`KVM_EXIT_SHUTDOWN`); PMemVirt guests have no IDT.
    case shutdown(vcpu: Int, rip: UInt64)
    /// The CPU refused to enter the guest (`KVM_EXIT_FAIL_ENTRY`).
    case entryFailed(vcpu: Int, hardwareReason: UInt64)
    /// The guest used an I/O port that no device serves.
    case unhandledPortIO(vcpu: Int, port: UInt16, isWrite: Bool, rip: UInt64)
    /// The guest touched a guest-physical address with no memslot and no device.
    /// KVM has emulated the access by then, so `rip` is just past the instruction.
    case unmappedAccess(vcpu: Int, gpa: UInt64, isWrite: Bool, rip: UInt64)
    /// A hypercall block the VMM could not read or answer.
    case badHypercall(vcpu: Int, detail: String)
    /// An exit reason PMemVirt does not handle.
    case unexpectedExit(vcpu: Int, reason: UInt32)
    /// The guest did not finish in time; every vCPU was stopped.
    case timedOut(seconds: Double)
    /// The guest did not finish in time while the host's fault handler
    /// (`handler`, e.g. a fault command) was still deciding a fault: the
    /// handler was cut short (the command killed) and every vCPU stopped.
    case handlerTimedOut(seconds: Double, handler: String)
    /// A guest access that its page's access forbids, with no handler for it.
    case accessFault(vcpu: Int, gpa: UInt64, isWrite: Bool, rip: UInt64)
    /// A fault handler (`by`: the guest's at an address, or the host's) ended the VM.
    case faultEnded(vcpu: Int, gpa: UInt64, isWrite: Bool, rip: UInt64, by: String)
    /// A guest program ended with a non-zero status.
    case guestFailed(vcpu: Int, status: UInt64, log: [String])

    /// One line, naming the vCPU, the address and what went wrong.
    public var description: String {
        switch self {
        case .emulationFailure(let vcpu, let rip, let bytes):
            let named = InstructionNames.name(of: bytes).map { ": \($0)" } ?? ""
            let shown = bytes.isEmpty ? "bytes unknown" : hex(bytes)
            return "vCPU \(vcpu): KVM could not emulate the instruction at RIP \(address(rip)) "
                + "(\(shown)\(named)); internal error, emulation failure"
        case .internalError(let vcpu, let suberror, let rip, let data):
            let words = data.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
            return "vCPU \(vcpu): KVM internal error \(suberror) at RIP \(address(rip)) (data: \(words))"
        case .shutdown(let vcpu, let rip):
            return "vCPU \(vcpu): guest shut down (triple fault) at RIP \(address(rip))"
        case .entryFailed(let vcpu, let reason):
            return
                "vCPU \(vcpu): the CPU refused to enter the guest (hardware reason 0x\(String(reason, radix: 16)))"
        case .unhandledPortIO(let vcpu, let port, let isWrite, let rip):
            return "vCPU \(vcpu): \(isWrite ? "out to" : "in from") port 0x\(String(port, radix: 16)), "
                + "which no device serves, at RIP \(address(rip))"
        case .unmappedAccess(let vcpu, let gpa, let isWrite, let rip):
            return "vCPU \(vcpu): \(isWrite ? "write to" : "read of") unmapped guest-physical address "
                + "\(address(gpa)) (RIP just past it: \(address(rip)))"
        case .badHypercall(let vcpu, let detail):
            return "vCPU \(vcpu): bad hypercall: \(detail)"
        case .unexpectedExit(let vcpu, let reason):
            return "vCPU \(vcpu): unexpected KVM exit reason \(reason)"
        case .accessFault(let vcpu, let gpa, let isWrite, let rip):
            return "vCPU \(vcpu): \(isWrite ? "write to" : "read of") protected guest-physical address "
                + "\(address(gpa)) with no fault handler, at RIP \(address(rip))"
        case .faultEnded(let vcpu, let gpa, let isWrite, let rip, let by):
            return "vCPU \(vcpu): \(by) ended the VM on a \(isWrite ? "write to" : "read of") "
                + "guest-physical address \(address(gpa)) at RIP \(address(rip))"
        case .timedOut(let seconds):
            return "the guest did not finish within \(seconds) s; its vCPUs were stopped"
        case .handlerTimedOut(let seconds, let handler):
            return "the guest did not finish within \(seconds) s: \(handler) was still deciding a fault "
                + "and was killed; its vCPUs were stopped"
        case .guestFailed(let vcpu, let status, let log):
            let said = log.last.map { ": \($0)" } ?? ""
            return "vCPU \(vcpu): the guest program ended with status \(status)\(said)"
        }
    }

    private func address(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
    }
}
