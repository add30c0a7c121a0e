import Foundation
import PMemKit
import PMemVirt

/// The VM cases of `protect`: each measurement boots a VM running the
/// `access` guest and times its loop between the guest's phase marks (VM
/// start-up excluded).
extension ProtectSuite {
    /// The guest switches a 2 MiB range of its RAM between read-only and
    /// read-write by hypercall (each switch: an exit, memslots deleted and
    /// installed); and the hypercall alone, setting the access it already has.
    func vmSwitchCases(_ kvm: KVM) throws -> [BenchCase] {
        let n = quick ? 10 : 100
        let theirs = try BenchPages(Self.switchPages)
        var switching = AccessWorkload(mode: .switchAccess)
        switching.pagesPerVCPU = UInt64(Self.switchPages)
        switching.iterations = UInt64(n)
        var same = switching
        same.sameAccess = true
        let memslots = VMTally()
        return [
            BenchCase(
                name: "switch-2MiB-memslot", unitCount: n,
                ours: { try Self.runGuest(switching, kvm: kvm, tally: memslots) },
                baselineName: "mprotect of 2 MiB",
                baseline: { try timeSwitching(n) { try mprotectSwitch(theirs, readOnly: $0) } },
                extra: { _, _ in memslots.perUnit(\.memslotCalls, name: "memslot_calls_per_switch") }),
            BenchCase(
                name: "switch-2MiB-hypercall-only", unitCount: n,
                ours: { try Self.runGuest(same, kvm: kvm, tally: VMTally()) }),
        ]
    }

    /// The guest writes to a read-only page of its RAM in a loop; each
    /// write exits, and the host's handler, or the guest's own (entered on
    /// the vCPU and returning by hypercall), answers skip.
    func vmFaultCases(_ kvm: KVM) throws -> [BenchCase] {
        let n = quick ? 20 : 200
        let theirs = try BenchPages(n)
        return [false, true].map { guestHandler in
            var workload = AccessWorkload(mode: .fault)
            workload.iterations = UInt64(n)
            workload.guestHandler = guestHandler
            workload.answer = .skip
            let tally = VMTally()
            return BenchCase(
                name: "fault-vm-\(guestHandler ? "guest" : "host")-handler", unitCount: n,
                ours: { try Self.runGuest(workload, kvm: kvm, tally: tally) },
                baselineName: "libsigsegv handler + mprotect of the page",
                baseline: { try SigsegvBaseline.faultEachPage(theirs) },
                extra: { _, _ in tally.perUnit(\.faults, name: "faults_per_write") })
        }
    }

    /// Boots a VM, runs `workload` and returns the nanoseconds between its phase marks.
    static func runGuest(_ workload: AccessWorkload, kvm: KVM, tally: VMTally) throws -> UInt64 {
        var c = VMConfiguration()
        c.bootArguments = workload.bootArguments
        c.faultHandler = ClosureGuestFaultHandler { _, _ in .skip }
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        let run = try vm.run(.access)
        guard let vcpu = run.vcpus.first, vcpu.exitStatus == 0, let span = run.phaseSpan,
            vcpu.reports[AccessWorkload.touchesKey] == workload.iterations
        else {
            throw PMemError(
                .system, operation: "protect bench",
                detail: "the access guest did not finish its loop: \(run.vcpus.first?.log ?? [])")
        }
        tally.add(vm.pageAccess.statistics, units: Int(workload.iterations))
        return span
    }
}

/// Page-access statistics over every measurement of one case.
final class VMTally: @unchecked Sendable {
    private let lock = NSLock()
    private var total = GuestFaultStatistics()
    private var units = 0

    func add(_ statistics: GuestFaultStatistics, units count: Int) {
        lock.withLock {
            total.faults += statistics.faults
            total.memslotCalls += statistics.memslotCalls
            units += count
        }
    }

    /// One statistic per unit of work, as an extra figure.
    func perUnit(_ statistic: KeyPath<GuestFaultStatistics, Int>, name: String) -> [String: Double] {
        lock.withLock { units == 0 ? [:] : [name: Double(total[keyPath: statistic]) / Double(units)] }
    }
}
