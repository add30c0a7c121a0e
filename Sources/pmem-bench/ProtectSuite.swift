import Foundation
import PMemKit
import PMemProtect
import PMemVirt

/// `protect`: what page access costs. `switch-` cases change the access of
/// a 2 MiB range (one unit: one change) against a plain `mprotect` of 2 MiB;
/// `fault-` cases time fault → handler → resume (one unit: one fault that
/// the handler resolves) against libsigsegv resolving the same fault with
/// an `mprotect` of the page. Mechanisms this machine lacks are left out
/// and named in the backing line.
struct ProtectSuite: BenchSuite {
    static let name = "protect"
    static let summary =
        "switching a 2 MiB range's access (pkeys, mprotect, userfaultfd, memslots) and fault -> handler -> resume "
        + "(SIGSEGV, userfaultfd, pkeys, VM exit) vs mprotect / libsigsegv"

    static let switchPages = (2 << 20) / BenchPages.size

    /// Samples are short (a millisecond or so): many of them, so that those a
    /// preempting process lands in are outliers the median drops.
    var rounds: Int { 101 }

    let protector: PageProtector
    let support = MechanismSupport.current
    let kvm: KVM?
    let quick: Bool
    let backing: String

    init(options: BenchOptions) throws {
        protector = try PageProtector.shared()
        quick = options.quick
        let vm = KVM.availability()
        kvm = try? vm.get()
        var notes = [
            "anonymous memory, pages present; process mechanism \(protector.choice.mechanism.rawValue)"
        ]
        if let delivery = MechanismSupport.userfaultfdDelivery {
            notes.append("userfaultfd faults delivered as \(delivery == .signal ? "SIGBUS" : "messages")")
        }
        for status in support.all where !status.available {
            notes.append("\(status.mechanism.rawValue) cases left out: \(status.reason)")
        }
        if case .failure(let error) = vm { notes.append("VM cases left out: \(error)") }
        backing = notes.joined(separator: "; ")
    }

    func cases() throws -> [BenchCase] {
        var cases: [BenchCase] = []
        for mechanism in ProtectionMechanism.allCases where support.status(of: mechanism).available {
            cases.append(try switchCase(mechanism))
        }
        if let kvm {
            cases += try vmSwitchCases(kvm)
        }
        for mechanism in ProtectionMechanism.allCases where support.status(of: mechanism).available {
            cases.append(try faultCase(mechanism, swiftHandler: false))
            cases.append(try faultCase(mechanism, swiftHandler: true))
        }
        if let kvm {
            cases += try vmFaultCases(kvm)
        }
        return cases
    }

    /// Toggles a 2 MiB range between read-only and read-write through
    /// `ProtectedRange.setAccess`; the baseline toggles another 2 MiB with `mprotect`.
    private func switchCase(_ mechanism: ProtectionMechanism) throws -> BenchCase {
        let n = quick ? 100 : 1000
        let ours = try BenchPages(Self.switchPages)
        let theirs = try BenchPages(Self.switchPages)
        let range = try protector.protect(
            ours.base, length: ours.length, access: .readWrite, onFault: .allow, label: "switch",
            mechanism: mechanism, owner: ours)
        return BenchCase(
            name: "switch-2MiB-\(mechanism.rawValue)", unitCount: n,
            ours: { try timeSwitching(n) { try range.setAccess($0 ? .read : .readWrite) } },
            baselineName: "mprotect of 2 MiB",
            baseline: { try timeSwitching(n) { try mprotectSwitch(theirs, readOnly: $0) } })
    }

    /// One write to each page of a write-protected range, every write a
    /// fault that the built-in `count` action (or a Swift handler lifting
    /// the page) resolves. pkeys cover a whole range with one key, so there
    /// each unit also takes write access away again (WRPKRU) before its write.
    private func faultCase(_ mechanism: ProtectionMechanism, swiftHandler: Bool) throws -> BenchCase {
        let n = quick ? 64 : 256
        let ours = try BenchPages(n)
        let theirs = try BenchPages(n)
        let page = BenchPages.size
        let action: FaultAction
        switch (swiftHandler, mechanism) {
        case (false, _): action = .count
        case (true, .pkeys): action = .handled { _, _ in .allow }
        case (true, _):
            action = .handled { fault, range in
                (try? range.setAccess(.readWrite, offset: fault.offset / page * page, length: page)) == nil
                    ? .deny : .retry
            }
        }
        let range = try protector.protect(
            ours.base, length: ours.length, access: .readWrite, onFault: action, label: "faults",
            mechanism: mechanism, owner: ours)
        let protector = self.protector
        let kind = mechanism == .userfaultfd ? "userfaultfd" : mechanism == .pkeys ? "pkeys" : "sigsegv"
        return BenchCase(
            name: "fault-\(kind)-\(swiftHandler ? "swift" : "builtin")", unitCount: n,
            ours: {
                try protector.reinstallSignalHandler()
                let before = range.faults
                let ns: UInt64
                if mechanism == .pkeys {
                    ns = try timed {
                        for i in 0..<n {
                            try range.setAccess(.read)
                            (ours.base + i * page).storeBytes(of: 3, toByteOffset: 8, as: UInt8.self)
                        }
                    }
                } else {
                    try range.setAccess(.read)
                    ns = ours.timeWritingEach(3)
                }
                try range.setAccess(.readWrite)
                guard range.faults - before == UInt64(n) else {
                    throw PMemError(
                        .system, operation: "protect bench",
                        detail: "\(range.faults - before) faults for \(n) writes with \(mechanism.rawValue)")
                }
                return ns
            },
            baselineName: "libsigsegv handler + mprotect of the page",
            baseline: { try SigsegvBaseline.faultEachPage(theirs) })
    }
}
