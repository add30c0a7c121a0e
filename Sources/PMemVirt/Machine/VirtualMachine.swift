internal import CKVMShim
import Foundation
import PMemKit

/// A KVM virtual machine for one guest program: guest RAM with identity
/// page tables, a vPMem range backed by a host `PMemMapping`, a virtual
/// flush hint page, the hypercall port, and vCPUs as host threads.
///
/// Build it, optionally register more devices or hypercalls, then `run` a
/// guest image once.
public final class VirtualMachine: @unchecked Sendable {
    /// What the VM was built from.
    public let configuration: VMConfiguration
    /// Where everything sits in guest-physical memory.
    public let layout: GuestLayout
    /// The memslots.
    public let memory: GuestMemory
    /// Port I/O and MMIO devices.
    public let exits: ExitDispatcher
    /// The hypercall port and its handlers.
    public let hypercalls: HypercallDevice
    /// The virtual flush hint address.
    public let vfha: VFHADevice
    /// The flush instruction guests find in CPUID.
    public let flushOffer: GuestFlushOffer
    /// Page access: what guests set by hypercall, and the fault handlers.
    public let pageAccess: GuestPageAccess

    let kvm: KVM
    let vmFD: Int32
    /// Keeps vCPUs out of the guest while memslots change.
    let gate = VCPUGate()
    /// The signal that interrupts a vCPU thread in KVM_RUN.
    let kickSignal: Int32
    private let ram: HostMemory
    private let cpuid: GuestCPUID

    private let stateLock = NSLock()
    private var stopping = false
    private var firstError: (any Error)?
    private var vcpus: [VirtualCPU] = []
    private var hasRun = false

    /// Installs the kick handler once per process.
    private static let kickHandler: Int32 = {
        let signal = pmk_kvm_kick_signal()
        _ = pmk_kvm_install_kick_handler(signal)
        return signal
    }()

    /// Creates the VM, its memory and its devices; no vCPU runs yet.
    public init(configuration: VMConfiguration, kvm: KVM? = nil) throws {
        let kvm = try kvm ?? KVM()
        guard configuration.vcpus >= 1, configuration.vcpus <= min(kvm.maxVCPUs, 64) else {
            throw PMemError(
                .invalidArgument, operation: "create VM",
                detail: "\(configuration.vcpus) vCPUs: choose 1 to \(min(kvm.maxVCPUs, 64))")
        }
        guard configuration.bootArguments.count <= Int(PMK_BOOT_ARGS) else {
            throw PMemError(
                .invalidArgument, operation: "create VM", detail: "at most \(PMK_BOOT_ARGS) boot arguments")
        }
        self.configuration = configuration
        self.kvm = kvm
        layout = try GuestLayout(
            ramSize: configuration.ramSize, vcpus: configuration.vcpus,
            vpmemSize: UInt64(configuration.vpmem?.size ?? 0))
        flushOffer =
            try configuration.guestFlush
            ?? GuestFlushOffer.decide(kvm: kvm, privilege: configuration.privilege)
        cpuid = GuestCPUID(supported: try kvm.supportedCPUID(), offer: flushOffer.instruction)
        kickSignal = Self.kickHandler

        let requested = try VFHAPolicy.requested(explicit: configuration.vfha.policy)
        let regions = configuration.vfha.backingRegions ?? configuration.vpmem.map(BackingRegion.behind) ?? []
        let decision = VFHADecision.decide(
            requested: requested, regions: regions, backing: configuration.vpmem?.backing)
        let targets = try VFHADevice.targets(
            for: decision, regions: regions, vpmem: configuration.vpmem, given: configuration.vfha.targets)
        vfha = try VFHADevice(
            decision: decision, backingRegions: regions,
            coalescer: FlushCoalescer(
                targets: targets, observer: configuration.vfha.observer,
                combining: configuration.vfha.combining))

        let fd = pmk_kvm_create_vm(kvm.fd)
        guard fd >= 0 else { throw PMemError.system("KVM_CREATE_VM", errno: -fd) }
        vmFD = fd
        var ok = false
        defer { if !ok { pmk_kvm_close(fd) } }
        memory = GuestMemory(vmFD: fd)
        exits = ExitDispatcher()
        hypercalls = HypercallDevice(memory: memory)
        pageAccess = GuestPageAccess(memory: memory, layout: layout, hostHandler: configuration.faultHandler)
        ram = try HostMemory(size: Int(layout.ramSize), purpose: "guest RAM")

        try memory.map("ram", gpa: 0, size: layout.ramSize, host: ram.base, access: .readWrite)
        if let vpmem = configuration.vpmem {
            try memory.map(
                "vpmem", gpa: GuestLayout.vpmemAddress, size: layout.vpmemSize, host: vpmem.base,
                access: .readWrite)
        }
        try memory.map(
            "vfha", gpa: vfha.range.lowerBound, size: GuestLayout.pageSize, host: vfha.page.base,
            access: vfha.access)
        try exits.register(ports: HypercallDevice.port...HypercallDevice.port, hypercalls)
        try exits.register(addresses: vfha.range, vfha)
        // Guest memory exits only where access was taken away (or while memslots change).
        try exits.register(addresses: 0..<layout.ramSize, pageAccess)
        if layout.vpmemSize > 0 {
            try exits.register(
                addresses: GuestLayout.vpmemAddress..<(GuestLayout.vpmemAddress + layout.vpmemSize),
                pageAccess)
        }
        pageAccess.register(on: hypercalls)
        pageAccess.pauseVCPUs = { [unowned self] body in try pausingVCPUs(body) }
        layout.writeBootStructures(into: ram.base)
        layout.writeBootInfo(into: ram.base, arguments: configuration.bootArguments)
        ok = true
    }

    deinit { pmk_kvm_close(vmFD) }

    /// Loads `image` and runs it on every vCPU until each ends (`PMK_HC_EXIT`
    /// or `hlt`). Throws the first error of any vCPU (an emulation failure
    /// with its RIP and instruction bytes, an unmapped access ...) after
    /// stopping the others, or `VMError.timedOut`; it never hangs past the
    /// configured timeout. A VM runs once.
    public func run(_ image: GuestImage) throws -> VMRunReport {
        try stateLock.withLock {
            guard !hasRun else {
                throw PMemError(
                    .busy, operation: "run guest", detail: "this VM has already run; create another")
            }
            hasRun = true
        }
        guard UInt64(image.bytes.count) <= GuestLayout.imageLimit else {
            throw PMemError(
                .invalidArgument, operation: "run guest",
                detail: "\(image.name) is \(image.bytes.count) bytes; images may be \(GuestLayout.imageLimit)"
            )
        }
        image.bytes.withUnsafeBytes { bytes in
            (ram.base + Int(GuestLayout.imageAddress)).copyMemory(
                from: bytes.baseAddress!, byteCount: bytes.count)
        }
        let created = try (0..<configuration.vcpus).map {
            try VirtualCPU(machine: self, index: $0, cpuid: cpuid, entry: GuestLayout.imageAddress)
        }
        stateLock.withLock { vcpus = created }
        defer { stateLock.withLock { vcpus = [] } }

        let group = DispatchGroup()
        let start = DispatchTime.now()
        for vcpu in created {
            group.enter()
            let thread = Thread {
                vcpu.runLoop()
                group.leave()
            }
            thread.name = "vcpu\(vcpu.index)"
            thread.start()
        }
        let deadline = configuration.timeout.map { start + $0 } ?? .distantFuture
        if group.wait(timeout: deadline) == .timedOut {
            let seconds = configuration.timeout ?? 0
            // An error from before the timeout stands. A host handler cut short
            // now ends its vCPU with an error of its own, which the timeout replaces.
            let earlier = stateLock.withLock { firstError }
            let interrupted = pageAccess.stopHostHandler()
            let error =
                interrupted.map { VMError.handlerTimedOut(seconds: seconds, handler: $0) }
                ?? VMError.timedOut(seconds: seconds)
            if earlier == nil { stateLock.withLock { firstError = error } }
            abort(error)
            group.wait()
        }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds
        if let error = stateLock.withLock({ firstError }) { throw error }
        return VMRunReport(vcpus: created.map(VCPUReport.init), wallNanoseconds: elapsed)
    }

    /// Runs `body` with every vCPU out of the guest (kicked, and held at the gate).
    func pausingVCPUs<T>(_ body: () throws -> T) throws -> T {
        try gate.closed(
            kick: { running in
                let vcpus = stateLock.withLock { self.vcpus }
                for vcpu in vcpus where running.contains(vcpu.index) { vcpu.kick() }
            }, body)
    }

    /// Whether the VM is being stopped (an error, or the timeout).
    var isStopping: Bool { stateLock.withLock { stopping } }

    /// Records `error` (the first one wins) and stops every vCPU, cutting
    /// short the host handler's decisions (a vCPU waiting on a fault command
    /// would otherwise keep the run going).
    func abort(_ error: any Error) {
        let toKick: [VirtualCPU] = stateLock.withLock {
            if firstError == nil { firstError = error }
            stopping = true
            return vcpus
        }
        _ = pageAccess.stopHostHandler()
        for vcpu in toKick { vcpu.kick() }
    }
}
