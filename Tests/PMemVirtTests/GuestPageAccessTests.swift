import CKVMShim
import Foundation
import PMemKit
import PMemVirt
import XCTest

/// Program-defined page access in a VM: the guest protects its own pages by
/// hypercall, the VMM enforces it with memslots, and each fault goes to the
/// guest's registered handler or to the host's.
final class GuestPageAccessTests: XCTestCase {
    private let page = GuestLayout.pageSize

    /// Records a host handler's faults and answers `decision`.
    final class HostLog: GuestFaultHandler, @unchecked Sendable {
        private let lock = NSLock()
        private var seen: [GuestFault] = []
        let decision: GuestFaultDecision

        init(_ decision: GuestFaultDecision) {
            self.decision = decision
        }

        func handle(_ fault: GuestFault, pages: GuestPageAccess) -> GuestFaultDecision {
            lock.withLock { seen.append(fault) }
            if decision == .retry {
                try? pages.setAccess(gpa: fault.gpa & ~4095, length: 4096, to: .readWrite)
            }
            return decision
        }

        var faults: [GuestFault] { lock.withLock { seen } }
    }

    private func machine(
        _ workload: AccessWorkload, vcpus: Int = 1, host: (any GuestFaultHandler)? = nil, kvm: KVM
    ) throws -> VirtualMachine {
        var c = VMConfiguration()
        c.vcpus = vcpus
        c.bootArguments = workload.bootArguments
        c.faultHandler = host
        c.guestFlush = GuestFlushOffer(instruction: .clflush, reason: "test")
        c.timeout = 30
        return try VirtualMachine(configuration: c, kvm: kvm)
    }

    private func touch(
        pages: UInt64, access: GuestAccess = .readOnly, writes: Bool = true, guest: Bool,
        answer: GuestFaultDecision
    ) -> AccessWorkload {
        var w = AccessWorkload(mode: .touch)
        w.pagesPerVCPU = pages
        w.access = access
        w.writes = writes
        w.guestHandler = guest
        w.answer = answer
        return w
    }

    private func assertGuestSucceeded(
        _ run: VMRunReport, handlerCalls: UInt64, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        for vcpu in run.vcpus {
            XCTAssertEqual(vcpu.exitStatus, 0, "vCPU \(vcpu.index): \(vcpu.log)", file: file, line: line)
            XCTAssertEqual(
                vcpu.reports[UInt64(PMK_REPORT_ERRORS.rawValue)], 0, "vCPU \(vcpu.index)", file: file,
                line: line)
            XCTAssertEqual(
                vcpu.reports[UInt64(PMK_REPORT_HANDLER_CALLS.rawValue)], handlerCalls, "vCPU \(vcpu.index)",
                file: file, line: line)
        }
    }

    func testAGuestHandlerRunsOncePerWrittenPageAndTheWritesLand() throws {
        let kvm = try KVMGate.kvm()
        let workload = touch(pages: 4, guest: true, answer: .retry)
        let vm = try machine(workload, kvm: kvm)
        let run = try vm.run(.access)

        assertGuestSucceeded(run, handlerCalls: 4)
        let stats = vm.pageAccess.statistics
        XCTAssertEqual(stats.faults, 4)
        XCTAssertEqual(stats.guestHandlerEntries, 4)
        XCTAssertEqual(stats.hostHandlerCalls, 0)
        let base = workload.pages(vcpu: 0, ramSize: vm.layout.ramSize)
        for i in 0..<UInt64(4) {
            let word = vm.memory.read(gpa: base + i * page + 8, length: 8).map {
                $0.withUnsafeBytes { $0.load(as: UInt64.self) }
            }
            XCTAssertEqual(word, AccessWorkload.stamp(vcpu: 0, page: i))
        }
        // The guest gave the access back: RAM is one memslot again.
        XCTAssertEqual(vm.memory.slots.filter { $0.label == "ram" }.count, 1)
    }

    func testAReadOfARemovedPageRunsAgainOnceTheGuestHandlerRestoredIt() throws {
        let kvm = try KVMGate.kvm()
        let vm = try machine(
            touch(pages: 3, access: .none, writes: false, guest: true, answer: .retry), kvm: kvm)
        assertGuestSucceeded(try vm.run(.access), handlerCalls: 3)
        XCTAssertEqual(vm.pageAccess.statistics.faults, 3)
    }

    func testTheGuestHandlerCanAllowOrSkip() throws {
        let kvm = try KVMGate.kvm()
        for answer in [GuestFaultDecision.allow, .skip] {
            for writes in [true, false] {
                let workload = touch(
                    pages: 2, access: writes ? .readOnly : .none, writes: writes, guest: true, answer: answer)
                let vm = try machine(workload, kvm: kvm)
                assertGuestSucceeded(try vm.run(.access), handlerCalls: 2)
            }
        }
    }

    func testTheHostHandlerIsCalledExactlyOncePerFaultWithItsDetails() throws {
        let kvm = try KVMGate.kvm()
        let workload = touch(pages: 4, guest: false, answer: .retry)
        let log = HostLog(.retry)
        let vm = try machine(workload, host: log, kvm: kvm)
        assertGuestSucceeded(try vm.run(.access), handlerCalls: 0)

        let base = workload.pages(vcpu: 0, ramSize: vm.layout.ramSize)
        let faults = log.faults
        XCTAssertEqual(faults.map(\.gpa), (0..<UInt64(4)).map { base + $0 * page + 8 })
        XCTAssertEqual(faults.map(\.value), (0..<UInt64(4)).map { AccessWorkload.stamp(vcpu: 0, page: $0) })
        XCTAssertTrue(
            faults.allSatisfy { $0.isWrite && $0.length == 8 && $0.vcpu == 0 && $0.access == .readOnly })
        XCTAssertEqual(vm.pageAccess.statistics.hostHandlerCalls, 4)
        XCTAssertEqual(vm.pageAccess.statistics.faults, 4)
    }

    func testTheHostHandlerCanAllowOrSkipReadsAndWrites() throws {
        let kvm = try KVMGate.kvm()
        for answer in [GuestFaultDecision.allow, .skip] {
            for writes in [true, false] {
                let log = HostLog(answer)
                let workload = touch(
                    pages: 2, access: writes ? .readOnly : .none, writes: writes, guest: false, answer: answer
                )
                let vm = try machine(workload, host: log, kvm: kvm)
                assertGuestSucceeded(try vm.run(.access), handlerCalls: 0)
                XCTAssertEqual(log.faults.count, 2, "\(answer) \(writes ? "writes" : "reads")")
                XCTAssertTrue(log.faults.allSatisfy { $0.isWrite == writes })
            }
        }
    }

    func testAGuestHandlerCanEndTheVM() throws {
        let kvm = try KVMGate.kvm()
        let workload = touch(pages: 2, guest: true, answer: .end)
        let vm = try machine(workload, kvm: kvm)
        let gpa = workload.pages(vcpu: 0, ramSize: vm.layout.ramSize) + 8
        XCTAssertThrowsError(try vm.run(.access)) { error in
            guard case .faultEnded(0, gpa, true, _, let by) = error as? VMError else {
                return XCTFail("expected the guest handler to end the VM, got \(error)")
            }
            XCTAssertTrue(by.contains("guest's fault handler"), by)
            XCTAssertTrue("\(error)".contains("0x\(String(gpa, radix: 16))"), "\(error)")
        }
    }

    func testAFaultWithNoHandlerEndsTheRunNamingTheAddress() throws {
        let kvm = try KVMGate.kvm()
        let workload = touch(pages: 1, guest: false, answer: .retry)
        let vm = try machine(workload, kvm: kvm)
        let gpa = workload.pages(vcpu: 0, ramSize: vm.layout.ramSize) + 8
        XCTAssertThrowsError(try vm.run(.access)) { error in
            guard case .accessFault(0, gpa, true, _) = error as? VMError else {
                return XCTFail("expected an access fault at 0x\(String(gpa, radix: 16)), got \(error)")
            }
        }
    }

    func testFourVCPUsFaultConcurrentlyEachOnItsOwnPages() throws {
        let kvm = try KVMGate.kvm()
        for guest in [true, false] {
            let log = HostLog(.allow)
            let vm = try machine(touch(pages: 8, guest: guest, answer: .allow), vcpus: 4, host: log, kvm: kvm)
            assertGuestSucceeded(try vm.run(.access), handlerCalls: guest ? 8 : 0)
            XCTAssertEqual(vm.pageAccess.statistics.faults, 32)
            XCTAssertEqual(log.faults.count, guest ? 0 : 32)
            XCTAssertEqual(Set(log.faults.map(\.vcpu)), guest ? [] : [0, 1, 2, 3])
        }
    }

    func testTheHostCanProtectVPMemAndItsHandlerSeesTheGuestsWrites() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 3, linesPerVCPU: 1)
        let log = HostLog(.allow)
        var c = try configuration(vcpus: 1, policy: .passthrough, workload: workload)
        c.bootArguments = workload.bootArguments
        c.faultHandler = log
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        try vm.pageAccess.setAccess(gpa: GuestLayout.vpmemAddress, length: page, to: .readOnly)
        let run = try vm.run(.flush)
        XCTAssertEqual(run.vcpus.first?.exitStatus, 0)
        // The first write allowed the page: one fault, then the flush loop ran unhindered.
        XCTAssertEqual(log.faults.count, 1)
        XCTAssertEqual(log.faults.first?.gpa, GuestLayout.vpmemAddress + 64)
        XCTAssertEqual(vm.pageAccess.access(at: GuestLayout.vpmemAddress), .readWrite)
    }

    func testAccessOutsideTheGuestsOwnMemoryCannotBeChanged() throws {
        let kvm = try KVMGate.kvm()
        let vm = try machine(touch(pages: 1, guest: false, answer: .retry), kvm: kvm)
        XCTAssertThrowsError(
            try vm.pageAccess.setAccess(gpa: GuestLayout.pml4Address, length: page, to: .none)
        ) {
            XCTAssertEqual(($0 as? PMemError)?.errno, EPERM)
        }
        XCTAssertThrowsError(
            try vm.pageAccess.setAccess(gpa: GuestLayout.vfhaAddress, length: page, to: .none))
    }
}
