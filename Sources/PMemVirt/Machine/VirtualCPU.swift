internal import CKVMShim
import Foundation
import PMemKit

/// One vCPU: its KVM file descriptor, its `kvm_run` page and the thread
/// that runs it. Devices and hypercall handlers get it to learn which vCPU
/// exited and to record what the guest reported.
///
/// Everything it records is written by its own thread only and read after
/// that thread has ended.
public final class VirtualCPU: @unchecked Sendable {
    /// The vCPU index (also its KVM id and APIC ID).
    public let index: Int
    let fd: Int32
    private let run: UnsafeMutablePointer<kvm_run>
    private let runSize: Int
    private unowned let machine: VirtualMachine

    /// The status the guest program ended with (`PMK_HC_EXIT`); `nil` if it just halted.
    public internal(set) var exitStatus: UInt64?
    /// Counters the guest reported (`PMK_HC_REPORT`), by key.
    public internal(set) var reports: [UInt64: UInt64] = [:]
    /// Host monotonic nanoseconds at `PMK_PHASE_BEGIN`, `PMK_PHASE_END`.
    public internal(set) var phaseBegin: UInt64?
    /// See `phaseBegin`.
    public internal(set) var phaseEnd: UInt64?
    /// Lines the guest logged (`PMK_HC_LOG`).
    public internal(set) var log: [String] = []
    /// Exits by kind.
    public internal(set) var exits = ExitCounts()

    private let threadLock = NSLock()
    private var thread: pthread_t?
    private var threadEnded = false

    /// Creates vCPU `index` of `machine`, gives it `cpuid` and puts it at the
    /// guest entry in long mode.
    init(machine: VirtualMachine, index: Int, cpuid: GuestCPUID, entry: UInt64) throws {
        self.index = index
        self.machine = machine
        let fd = pmk_kvm_create_vcpu(machine.vmFD, UInt32(index))
        guard fd >= 0 else { throw PMemError.system("KVM_CREATE_VCPU", errno: -fd, detail: "vCPU \(index)") }
        var mapped: UnsafeMutablePointer<kvm_run>?
        let size = machine.kvm.vcpuMapSize
        let rc = pmk_kvm_map_run(fd, size, &mapped)
        guard rc == 0, let mapped else {
            pmk_kvm_close(fd)
            throw PMemError.system("mmap kvm_run", errno: -rc, detail: "vCPU \(index)")
        }
        self.fd = fd
        self.run = mapped
        self.runSize = size
        try cpuid.apply(toVCPU: fd, index: index)
        var start = pmk_kvm_long_mode()
        start.cr3 = GuestLayout.pml4Address
        start.gdt_base = GuestLayout.gdtAddress
        start.gdt_limit = GuestLayout.gdtLimit
        let privilege = machine.configuration.privilege
        start.code_selector = privilege.codeSelector
        start.data_selector = privilege.dataSelector
        start.cpl = privilege.cpl
        start.rip = entry
        start.rsp = machine.layout.stackTop(vcpu: index)
        start.rdi = GuestLayout.bootInfoAddress
        start.rsi = UInt64(index)
        let entered = pmk_kvm_vcpu_enter_long_mode(fd, &start)
        guard entered == 0 else {
            throw PMemError.system("set long mode", errno: -entered, detail: "vCPU \(index)")
        }
    }

    deinit {
        pmk_kvm_unmap_run(run, runSize)
        pmk_kvm_close(fd)
    }

    /// Whether the VM is being stopped (an error, the timeout).
    var isStopping: Bool { machine.isStopping }

    /// The guest's RIP now (0 when KVM cannot say).
    public func instructionPointer() -> UInt64 {
        var regs = kvm_regs()
        return pmk_kvm_vcpu_get_regs(fd, &regs) == 0 ? regs.rip : 0
    }

    /// The general registers (`KVM_GET_REGS`).
    func registers() throws -> kvm_regs {
        var regs = kvm_regs()
        let rc = pmk_kvm_vcpu_get_regs(fd, &regs)
        guard rc == 0 else { throw PMemError.system("KVM_GET_REGS", errno: -rc, detail: "vCPU \(index)") }
        return regs
    }

    /// Sets the general registers (`KVM_SET_REGS`); only after `completePendingExit`,
    /// or KVM's completion of the exited instruction would overwrite them.
    func setRegisters(_ regs: kvm_regs) throws {
        var copy = regs
        let rc = pmk_kvm_vcpu_set_regs(fd, &copy)
        guard rc == 0 else { throw PMemError.system("KVM_SET_REGS", errno: -rc, detail: "vCPU \(index)") }
    }

    /// Finishes the instruction whose exit is being handled without running
    /// further guest code: KVM completes an MMIO or port access only on the
    /// next `KVM_RUN`, which `immediate_exit` then ends before guest entry.
    /// A pending MMIO read reads `readValue`. An access KVM split in pieces
    /// exits again for each later piece; those are returned (their reads
    /// also read `readValue`).
    func completePendingExit(pendingRead: Bool, readValue: UInt64 = 0) throws -> [MMIOAccess] {
        var pieces: [MMIOAccess] = []
        if pendingRead { complete(read: readValue, reason: UInt32(PMK_KVM_EXIT_MMIO.rawValue)) }
        defer { pmk_kvm_set_immediate_exit(run, machine.isStopping) }
        for _ in 0..<16 {
            pmk_kvm_set_immediate_exit(run, true)
            let rc = runOnce(keepingKick: true)
            if rc == -EINTR { return pieces }
            guard rc == 0 else { throw PMemError.system("KVM_RUN", errno: -rc, detail: "vCPU \(index)") }
            var raw = pmk_kvm_exit()
            pmk_kvm_exit_decode(run, &raw)
            guard case .mmio(let piece) = VMExit(raw) else {
                throw VMError.unexpectedExit(vcpu: index, reason: raw.reason)
            }
            exits.mmio += 1
            pieces.append(piece)
            if !piece.isWrite { complete(read: readValue, reason: raw.reason) }
        }
        throw VMError.badHypercall(vcpu: index, detail: "an access did not complete in 16 pieces")
    }

    /// Runs the guest until its program ends, the VM stops, or an error;
    /// reports an error to the machine, which then stops every vCPU.
    func runLoop() {
        threadLock.withLock { thread = pthread_self() }
        defer { threadLock.withLock { threadEnded = true } }
        while !machine.isStopping {
            let rc = runOnce()
            if rc == -EINTR || rc == -EAGAIN { continue }
            guard rc == 0 else {
                machine.abort(PMemError.system("KVM_RUN", errno: -rc, detail: "vCPU \(index)"))
                return
            }
            var raw = pmk_kvm_exit()
            pmk_kvm_exit_decode(run, &raw)
            do {
                switch try handle(VMExit(raw)) {
                case .resume:
                    continue
                case .resumeWithRead(let value):
                    complete(read: value, reason: raw.reason)
                case .stop:
                    return
                }
            } catch {
                machine.abort(error)
                return
            }
        }
    }

    /// One `KVM_RUN` inside the machine's gate, so that memslot changes never
    /// meet a vCPU in the guest. Entering clears a kick left by a change
    /// (not one that stops the VM), unless `keepingKick` (the caller set it).
    private func runOnce(keepingKick: Bool = false) -> Int32 {
        machine.gate.enter(index) {
            if !keepingKick { pmk_kvm_set_immediate_exit(run, machine.isStopping) }
        }
        defer { machine.gate.leave(index) }
        return pmk_kvm_vcpu_run(fd)
    }

    /// Makes the vCPU leave the guest now, or never enter it again.
    func kick() {
        pmk_kvm_set_immediate_exit(run, true)
        threadLock.withLock {
            if let thread, !threadEnded { pthread_kill(thread, machine.kickSignal) }
        }
    }

    private func handle(_ exit: VMExit) throws -> ExitAction {
        switch exit {
        case .portIO(let access):
            exits.portIO += 1
            guard let device = machine.exits.handler(port: access.port) else {
                throw VMError.unhandledPortIO(
                    vcpu: index, port: access.port, isWrite: access.isWrite, rip: instructionPointer())
            }
            return try device.handlePortIO(access, vcpu: self)
        case .mmio(let access):
            exits.mmio += 1
            guard let device = machine.exits.handler(gpa: access.gpa) else {
                throw VMError.unmappedAccess(
                    vcpu: index, gpa: access.gpa, isWrite: access.isWrite, rip: instructionPointer())
            }
            return try device.handleMMIO(access, vcpu: self)
        case .halt:
            exits.halt += 1
            return .stop
        case .interrupted:
            return .resume
        case .shutdown:
            throw VMError.shutdown(vcpu: index, rip: instructionPointer())
        case .internalError(let suberror, let data, let instruction):
            let rip = instructionPointer()
            guard suberror == UInt32(PMK_KVM_INTERNAL_ERROR_EMULATION.rawValue) else {
                throw VMError.internalError(vcpu: index, suberror: suberror, rip: rip, data: data)
            }
            // Identity-mapped guests: the RIP is a guest-physical address too.
            let bytes = instruction.isEmpty ? instructionBytes(at: rip) : instruction
            throw VMError.emulationFailure(vcpu: index, rip: rip, instruction: bytes)
        case .failEntry(let reason):
            throw VMError.entryFailed(vcpu: index, hardwareReason: reason)
        case .other(let reason):
            throw VMError.unexpectedExit(vcpu: index, reason: reason)
        }
    }

    /// Up to 15 bytes at `rip`, read from guest memory (shorter at a memslot's end).
    private func instructionBytes(at rip: UInt64) -> [UInt8] {
        guard let slot = machine.memory.slot(containing: rip) else { return [] }
        let available = Int(min(15, slot.gpa + slot.size - rip))
        return machine.memory.read(gpa: rip, length: available) ?? []
    }

    private func complete(read value: UInt64, reason: UInt32) {
        if reason == UInt32(PMK_KVM_EXIT_IO.rawValue) {
            pmk_kvm_exit_complete_io_in(run, value)
        } else {
            withUnsafeBytes(of: value.littleEndian) { bytes in
                pmk_kvm_exit_complete_mmio_read(
                    run, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count))
            }
        }
    }
}

/// How often a vCPU left the guest, by kind.
public struct ExitCounts: Sendable, Equatable, Codable {
    /// Port I/O exits (hypercalls among them).
    public var portIO = 0
    /// MMIO exits (trapped vFHA writes among them).
    public var mmio = 0
    /// `hlt` exits.
    public var halt = 0

    /// Every exit counted.
    public var total: Int { portIO + mmio + halt }
}
