internal import CKVMShim
import Foundation
import PMemKit

/// Guest fault handlers: entering one on the faulting vCPU with a fault
/// frame, and going on as it decides when it returns (`PMK_HC_FAULT_RETURN`).
extension GuestPageAccess {
    /// Completes the exited instruction (a read reads 0 for now), saves the
    /// context and enters the guest's handler.
    func enterGuestHandler(
        _ handler: GuestHandler, fault: GuestFault, access: MMIOAccess, vcpu: VirtualCPU
    ) throws -> ExitAction {
        let before = try vcpu.registers()
        let pieces = try vcpu.completePendingExit(pendingRead: !access.isWrite)
        let after = try vcpu.registers()
        let writes = access.isWrite ? [access] + pieces.filter(\.isWrite) : []
        try enter(
            FaultContext(fault: fault, before: before, after: after, writes: writes, handler: handler),
            vcpu: vcpu)
        return .resume
    }

    /// Puts the fault frame on the vCPU's stack and points it at the handler.
    private func enter(_ context: FaultContext, vcpu: VirtualCPU) throws {
        let depth = lock.withLock { (contexts[vcpu.index]?.count ?? 0) + 1 }
        guard depth <= Self.maxDepth else {
            throw VMError.badHypercall(
                vcpu: vcpu.index,
                detail: "fault handlers nested \(depth) deep (a handler that keeps faulting?)")
        }
        var frame = pmk_guest_fault()
        frame.gpa = context.fault.gpa
        frame.rip = context.fault.rip
        frame.value = context.fault.value
        frame.range_gpa = context.handler.range.lowerBound
        frame.range_length = UInt64(context.handler.range.count)
        frame.length = UInt32(context.fault.length)
        frame.write = context.fault.isWrite ? 1 : 0
        frame.vcpu = UInt32(vcpu.index)
        frame.depth = UInt32(depth)
        // Below the interrupted code's stack (and a red zone), 16-byte aligned;
        // the return address makes the handler's entry look like a call.
        let frameSize = UInt64(MemoryLayout<pmk_guest_fault>.size)
        let frameGPA = (context.after.rsp &- 128 &- frameSize) & ~15
        let entrySP = frameGPA - 8
        try memory.withCurrentTable { table in
            guard table.slot(containing: entrySP)?.access == .readWrite,
                table.slot(containing: frameGPA + frameSize - 1)?.access == .readWrite,
                let host = table.host(gpa: entrySP, length: frameSize + 8)
            else {
                throw VMError.badHypercall(
                    vcpu: vcpu.index,
                    detail: "no writable stack for the fault handler at 0x\(String(entrySP, radix: 16))")
            }
            host.storeBytes(of: context.handler.returnStub, as: UInt64.self)
            (host + 8).storeBytes(of: frame, as: pmk_guest_fault.self)
        }
        var regs = context.after
        regs.rip = context.handler.entry
        regs.rsp = entrySP
        regs.rdi = frameGPA
        regs.rflags &= ~(1 << 10)  // the ABI's direction flag: clear at a call
        try vcpu.setRegisters(regs)
        lock.withLock {
            contexts[vcpu.index, default: []].append(context)
            counters.guestHandlerEntries += 1
        }
    }

    /// `PMK_HC_FAULT_RETURN`: restores the interrupted context and goes on as the handler decided.
    func returnFromHandler(decision raw: UInt64, vcpu: VirtualCPU) throws -> HypercallReply {
        guard let context = lock.withLock({ contexts[vcpu.index]?.popLast() }) else {
            return HypercallReply(result: -EINVAL)
        }
        guard let decision = GuestFaultDecision(guest: raw) else {
            throw VMError.badHypercall(
                vcpu: vcpu.index, detail: "fault handler returned \(raw), not a decision")
        }
        _ = try vcpu.completePendingExit(pendingRead: false)
        let fault = context.fault
        switch decision {
        case .end:
            throw VMError.faultEnded(
                vcpu: vcpu.index, gpa: fault.gpa, isWrite: fault.isWrite, rip: fault.rip,
                by: "the guest's fault handler at 0x\(String(context.handler.entry, radix: 16))")
        case .skip:
            try vcpu.setRegisters(context.after)
        case .allow:
            try allowPage(of: fault.gpa)
            try retry(context, vcpu: vcpu)
        case .retry:
            try retry(context, vcpu: vcpu)
        }
        return HypercallReply()
    }

    /// Goes on with the access if its page allows it now (a write is
    /// stored, a read runs again), or enters the handler again: a new fault.
    private func retry(_ context: FaultContext, vcpu: VirtualCPU) throws {
        if context.fault.isWrite {
            if storeIfAllowed(context.writes) {
                try vcpu.setRegisters(context.after)
                return
            }
        } else if memory.access(at: context.fault.gpa)?.allows(write: false) == true {
            try vcpu.setRegisters(context.before)
            return
        }
        var again = context
        again.fault.access = memory.access(at: context.fault.gpa) ?? .none
        lock.withLock { counters.faults += 1 }
        try enter(again, vcpu: vcpu)
    }

    /// Stores every piece of a write if all of them are allowed now.
    private func storeIfAllowed(_ writes: [MMIOAccess]) -> Bool {
        memory.withCurrentTable { table in
            let targets = writes.map { piece -> UnsafeMutableRawPointer? in
                guard table.slot(containing: piece.gpa)?.access.allows(write: true) == true else {
                    return nil
                }
                return table.host(gpa: piece.gpa, length: UInt64(piece.length))
            }
            guard targets.allSatisfy({ $0 != nil }) else { return false }
            for (piece, host) in zip(writes, targets) {
                withUnsafeBytes(of: piece.value.littleEndian) { bytes in
                    host!.copyMemory(from: bytes.baseAddress!, byteCount: piece.length)
                }
            }
            return true
        }
    }
}
