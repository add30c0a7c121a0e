import CKVMShim
import Foundation
import PMemKit
import PMemVirt
import XCTest

/// A guest that cannot go on is reported — vCPU, RIP, what happened — and
/// never leaves the caller waiting.
final class GuestErrorTests: XCTestCase {
    func testClwbThatKVMCannotEmulateIsReportedWithRIPAndInstructionBytes() throws {
        let kvm = try KVMGate.kvm()
        var c = VMConfiguration()
        c.privilege = .kernel  // where kvm_pvm emulates, and fails on, clwb
        c.guestFlush = GuestFlushOffer(instruction: .clwb, reason: "test")
        c.vpmem = try scratchVPMem(bytes: 1 << 20)
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        do {
            _ = try vm.run(.clwb)
            throw XCTSkip("guest clwb runs at CPL 0 under this KVM: there is no emulation failure to report")
        } catch let error as VMError {
            guard case .emulationFailure(let vcpu, let rip, let bytes) = error else {
                return XCTFail("expected an emulation failure, got: \(error)")
            }
            XCTAssertEqual(vcpu, 0)
            XCTAssertEqual(rip, GuestImage.clwb.address(of: "clwb_site"))
            XCTAssertEqual(Array(bytes.prefix(3)), [0x66, 0x0f, 0xae])
            XCTAssertTrue(error.description.contains("RIP 0x\(String(rip, radix: 16))"), error.description)
            XCTAssertTrue(error.description.contains("clwb"), error.description)
        }
    }

    func testExecutingUnmappedMemoryIsAnEmulationFailureAtThatRIPInUserAndKernelMode() throws {
        let kvm = try KVMGate.kvm()
        // mov $0x80000000, %eax; jmp *%rax
        let image = GuestImage(name: "wild-jump", bytes: [0xb8, 0, 0, 0, 0x80, 0xff, 0xe0])
        for privilege in GuestPrivilege.allCases {
            var c = VMConfiguration()
            c.privilege = privilege
            c.guestFlush = GuestFlushOffer(instruction: .clflush, reason: "test")
            let vm = try VirtualMachine(configuration: c, kvm: kvm)
            XCTAssertThrowsError(try vm.run(image), "\(privilege)") { error in
                XCTAssertEqual(
                    error as? VMError, .emulationFailure(vcpu: 0, rip: 0x8000_0000, instruction: []))
                XCTAssertTrue("\(error)".contains("bytes unknown"), "\(error)")
            }
        }
    }

    func testAPrivilegedInstructionInUserModeIsReportedAsAShutdownNotAHang() throws {
        let kvm = try KVMGate.kvm()
        var c = VMConfiguration()
        c.guestFlush = GuestFlushOffer(instruction: .clflush, reason: "test")
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        XCTAssertThrowsError(try vm.run(GuestImage(name: "hlt", bytes: [0xf4]))) { error in
            guard case .shutdown(vcpu: 0, _) = error as? VMError else {
                return XCTFail("expected a shutdown, got \(error)")
            }
        }
    }

    func testAGuestThatNeverEndsIsStoppedAtTheTimeout() throws {
        let kvm = try KVMGate.kvm()
        var c = VMConfiguration()
        c.vcpus = 2
        c.timeout = 0.3
        let spin = GuestImage(name: "spin", bytes: [0xeb, 0xfe])  // jmp .
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        XCTAssertThrowsError(try vm.run(spin)) { error in
            XCTAssertEqual(error as? VMError, .timedOut(seconds: 0.3))
        }
    }

    func testAWriteToUnmappedGuestMemoryNamesTheAddress() throws {
        let kvm = try KVMGate.kvm()
        // mov %rax, 0x80000000 (movabs); hlt
        let image = GuestImage(name: "stray", bytes: [0x48, 0xa3, 0, 0, 0, 0x80, 0, 0, 0, 0, 0xf4])
        let vm = try VirtualMachine(configuration: VMConfiguration(), kvm: kvm)
        XCTAssertThrowsError(try vm.run(image)) { error in
            XCTAssertEqual(
                error as? VMError,
                .unmappedAccess(vcpu: 0, gpa: 0x8000_0000, isWrite: true, rip: GuestLayout.imageAddress + 10))
        }
    }

    func testAGuestStatusAndLogComeBackThroughHypercalls() throws {
        let kvm = try KVMGate.kvm()
        var c = VMConfiguration()  // no vPMem: the flush guest refuses to run
        c.bootArguments = [10, 1]
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        let run = try vm.run(.flush)
        XCTAssertEqual(run.vcpus.first?.exitStatus, 2)
        XCTAssertEqual(
            run.vcpus.first?.log, ["flush: vPMem absent or too small for this many vCPUs and lines"])
        XCTAssertThrowsError(try VMFlushReport(vm: vm, guest: "flush", run: run)) { error in
            XCTAssertTrue("\(error)".contains("status 2"), "\(error)")
        }
    }

    func testAVMRunsOnce() throws {
        let kvm = try KVMGate.kvm()
        var c = VMConfiguration()
        c.privilege = .kernel  // hlt is privileged
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        let halt = GuestImage(name: "halt", bytes: [0xf4])
        let run = try vm.run(halt)
        XCTAssertEqual(run.vcpus.map(\.exits.halt), [1])
        XCTAssertThrowsError(try vm.run(halt))
    }
}
