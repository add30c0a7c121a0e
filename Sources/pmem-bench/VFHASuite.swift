import Foundation
import PMemKit
import PMemVirt

/// `vfha`: what a guest flush costs under each vFHA mapping, against an
/// always-trapping virtual NVDIMM that fsyncs its backing file per flush
/// (what a file-backed virtual NVDIMM such as virtio-pmem does).
///
/// Each measurement boots a VM, runs the flush workload and times the
/// guest's flush loop between its phase marks (VM start-up excluded); one
/// unit is one guest flush sequence (data line + header flushed, fence,
/// flush-hint write, fence), all vCPUs together.
struct VFHASuite: BenchSuite {
    static let name = "vfha"
    static let summary =
        "guest flush cost with the vFHA passed through / trapped vs an fsync-per-flush virtual NVDIMM; coalescing"

    let kvm: KVM
    let vpmem: PMemMapping
    let fsync: FileSyncFlush
    let quick: Bool
    let backing: String

    init(options: BenchOptions) throws {
        kvm = try KVM.availability().get()
        quick = options.quick
        // A disk file, not /dev/shm: fsync of tmpfs does nothing, and the baseline's cost is the disk's.
        let path = options.path ?? "/var/tmp/pmem-bench-vfha.\(getpid())"
        vpmem = try PMemMapping(path: path, options: .init(size: 4 << 20, create: true))
        fsync = try FileSyncFlush(path: path)
        if options.path == nil { unlink(path) }  // the mapping and the fsync descriptor keep it
        let regions = BackingRegion.behind(vpmem)
        let described =
            regions.isEmpty
            ? "no NVDIMM region behind it, so a trap propagates to nothing: exit + resume only"
            : "regions \(regions.map { "\($0.name) (\($0.deepFlush.rawValue))" }.joined(separator: ", "))"
        backing = "vPMem \(vpmem.backing.rawValue) (\(path)); \(described); KVM \(kvm.path)"
    }

    func cases() throws -> [BenchCase] {
        let n = quick ? 20 : 500
        let fsync = self.fsync
        return [
            flushCase("passthrough-1vcpu", vcpus: 1, iterations: n) { $0.policy = .passthrough },
            flushCase("trap-1vcpu", vcpus: 1, iterations: n) { $0.policy = .trap },
            flushCase("trap-4vcpu", vcpus: 4, iterations: n / 2) { $0.policy = .trap },
            flushCase("passthrough-1vcpu-cpl0", vcpus: 1, iterations: n / 2, privilege: .kernel) {
                $0.policy = .passthrough
            },
            flushCase("trap-1vcpu-cpl0", vcpus: 1, iterations: n / 2, privilege: .kernel) {
                $0.policy = .trap
            },
            // Coalescing: both sides fsync; ours lets writes that arrive during an fsync share the next one.
            flushCase("coalesce-fsync-4vcpu", vcpus: 4, iterations: n / 2) {
                $0.policy = .trap
                $0.targets = [fsync]
            },
        ]
    }

    /// Ours: the vFHA as `configure` sets it (by default with the topology's
    /// flush targets). Baseline: every flush-hint write traps and fsyncs the
    /// vPMem file, one fsync per write, none shared.
    private func flushCase(
        _ name: String, vcpus: Int, iterations: Int, privilege: GuestPrivilege = .user,
        configure: @escaping (inout VFHAConfiguration) -> Void
    ) -> BenchCase {
        let workload = FlushWorkload(iterations: iterations, linesPerVCPU: 8)
        let ours = Tally()
        let baseline = Tally()
        let (kvm, vpmem, fsync) = (self.kvm, self.vpmem, self.fsync)
        return BenchCase(
            name: name, unitCount: vcpus * iterations,
            ours: {
                try Self.measure(
                    workload, vcpus: vcpus, privilege: privilege, vpmem: vpmem, kvm: kvm, tally: ours,
                    vfha: configure)
            },
            baselineName: "fsync per flush (file-backed vNVDIMM)",
            baseline: {
                try Self.measure(
                    workload, vcpus: vcpus, privilege: privilege, vpmem: vpmem, kvm: kvm, tally: baseline
                ) {
                    $0.policy = .trap
                    $0.targets = [fsync]
                    $0.combining = false
                }
            },
            extra: { _, _ in
                var e = ours.ratios(prefix: "ours")
                e.merge(baseline.ratios(prefix: "baseline")) { a, _ in a }
                return e
            })
    }

    /// Boots a VM on the vPMem file, runs the workload and returns its flush-loop nanoseconds.
    private static func measure(
        _ workload: FlushWorkload, vcpus: Int, privilege: GuestPrivilege, vpmem: PMemMapping, kvm: KVM,
        tally: Tally, vfha: (inout VFHAConfiguration) -> Void
    ) throws -> UInt64 {
        var c = VMConfiguration()
        c.vcpus = vcpus
        c.privilege = privilege
        c.bootArguments = workload.bootArguments
        c.vpmem = vpmem
        vfha(&c.vfha)
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        let run = try vm.run(.flush)
        let report = try VMFlushReport(vm: vm, guest: "flush", run: run)
        guard let span = run.phaseSpan, report.guestFlushes == UInt64(vcpus * workload.iterations) else {
            throw PMemError(
                .system, operation: "vfha bench", detail: "the guest did not complete its flushes")
        }
        tally.add(report)
        return span
    }
}

/// Exits and propagations over every measurement of one side of a case.
private final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var flushes = 0.0
    private var exits = 0.0
    private var rounds = 0.0

    func add(_ r: VMFlushReport) {
        lock.withLock {
            flushes += Double(r.guestFlushes)
            exits += Double(r.fhaExits)
            rounds += Double(r.propagationRounds)
        }
    }

    /// `exits_per_flush` and `propagations_per_exit` (below 1: writes were combined).
    func ratios(prefix: String) -> [String: Double] {
        lock.withLock {
            guard flushes > 0 else { return [:] }
            var e = ["\(prefix)_exits_per_flush": exits / flushes]
            if exits > 0 { e["\(prefix)_propagations_per_exit"] = rounds / exits }
            return e
        }
    }
}
