import ArgumentParser
import Foundation
import PMemKit
import PMemVirt

/// `pmemctl vm`: guests in the PMemVirt micro-VMM.
struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Run guest programs in the PMemVirt micro-VMM (KVM) with vPMem and a virtual flush hint.",
        subcommands: [VMRunCommand.self, VMAccessCommand.self])
}

/// The vFHA policies, as the command line spells them.
enum FHAPolicyArgument: String, ExpressibleByArgument, CaseIterable {
    case auto, trap, passthrough

    var model: VFHAPolicy { VFHAPolicy(rawValue: rawValue)! }
}

/// Guest privilege levels, as the command line spells them.
enum PrivilegeArgument: String, ExpressibleByArgument, CaseIterable {
    case user, kernel

    var model: GuestPrivilege { GuestPrivilege(rawValue: rawValue)! }
}

/// `pmemctl vm run [GUEST]`: run a guest and report what its flushes cost and did.
struct VMRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Run a guest (default: the built-in flush workload) and report its vFHA exits and propagations.",
        discussion: """
            GUEST is a built-in guest (\(GuestImage.builtins.map(\.name).joined(separator: ", "))) or a flat \
            image built by tools/guests/build. The vFHA traps (read-only memslot, deep flush of the backing \
            regions per write) or passes through (no exits); auto traps when a backing region reports \
            deep_flush: supported. PMEMKIT_FHA_POLICY sets the default; PMEMKIT_GUEST_FLUSH caps the flush \
            instruction guests are offered.
            """)

    @Argument(help: "A built-in guest or a flat image file (default: the flush workload).") var guest: String?
    @Option(help: "File or DAX device backing the vPMem (default: a file in /dev/shm, removed afterwards).")
    var vpmem: String?
    @Option(help: "vPMem size when --vpmem names a new file or for the default file, e.g. 64M.")
    var vpmemSize: String?
    @Option(help: "vCPUs, each a host thread (1-64).") var vcpus: Int = 1
    @Option(help: "auto, trap or passthrough (default: PMEMKIT_FHA_POLICY, else auto).")
    var fhaPolicy: FHAPolicyArgument?
    @Option(help: "Flush sequences per vCPU (flush workload arguments).") var iterations: Int = 1000
    @Option(help: "Seconds before every vCPU is stopped and the run fails.") var timeout: Double = 60
    @Option(help: "user (CPL 3, the default) or kernel (CPL 0).") var privilege: PrivilegeArgument = .user
    @Flag(help: "Print JSON (the vm run contract).") var json = false

    func validate() throws {
        guard (1...64).contains(vcpus) else { throw ValidationError("--vcpus must be 1 to 64") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        _ = try parseSizeOption(vpmemSize, "--vpmem-size")
    }

    func run() throws {
        try reportingFailures {
            let kvm = try KVM.availability().get()
            let workload = FlushWorkload(iterations: iterations)
            var configuration = VMConfiguration()
            configuration.vcpus = vcpus
            configuration.timeout = timeout
            configuration.privilege = privilege.model
            configuration.bootArguments = workload.bootArguments
            configuration.vfha.policy = fhaPolicy?.model
            configuration.vpmem = try mapVPMem(minimum: workload.vpmemBytes(vcpus: vcpus))
            let report: VMFlushReport
            if let guest {
                let image = try GuestImage.resolve(guest)
                let vm = try VirtualMachine(configuration: configuration, kvm: kvm)
                report = try VMFlushReport(vm: vm, guest: image.name, run: try vm.run(image))
            } else {
                report = try workload.run(configuration, kvm: kvm)
            }
            if json {
                try Output.json(report)
            } else {
                Output.table(Self.rows(report))
            }
        }
    }

    /// The vPMem: the named file or device (created when missing), else a scratch file in /dev/shm.
    private func mapVPMem(minimum: Int) throws -> PMemMapping {
        let size = try parseSizeOption(vpmemSize, "--vpmem-size").map(Int.init)
        let fallback = max(minimum, 4 << 20)
        guard let vpmem else {
            let path = "/dev/shm/pmemctl-vpmem.\(getpid())"
            defer { unlink(path) }
            return try PMemMapping(path: path, options: .init(size: size ?? fallback, create: true))
        }
        let exists = FileManager.default.fileExists(atPath: vpmem)
        return try PMemMapping(
            path: vpmem, options: .init(size: exists ? size : size ?? fallback, create: !exists))
    }

    /// The human table: the contract's fields, then what explains them.
    static func rows(_ r: VMFlushReport) -> [[String]] {
        let regions =
            r.backingRegions.isEmpty
            ? "none"
            : r.backingRegions.map { "\($0.name) (deep_flush \($0.deepFlush.rawValue))" }.joined(
                separator: ", ")
        return [
            ["guest", r.guest],
            ["policy", "\(r.policy.rawValue) (\(r.requestedPolicy.rawValue): \(r.policyReason))"],
            ["vcpus", "\(r.vcpus) at \(r.privilege.rawValue) privilege"],
            ["guest_flushes", "\(r.guestFlushes)"],
            ["fha_exits", "\(r.fhaExits)"],
            ["propagations", "\(r.propagations) in \(r.propagationRounds) rounds"],
            ["ns_per_flush", r.nsPerFlush.map { String(format: "%.0f", $0) } ?? "-"],
            ["backing_regions", regions],
            ["flush_targets", r.flushTargets.isEmpty ? "none" : r.flushTargets.joined(separator: ", ")],
            ["flush_instruction", "\(r.flushInstruction ?? "-") (offer \(r.flushOffer))"],
            ["data_verified", r.dataVerified.map { $0 ? "yes" : "NO" } ?? "-"],
        ]
    }
}
