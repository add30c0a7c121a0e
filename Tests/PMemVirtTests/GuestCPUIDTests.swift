import CKVMShim
import Foundation
import PMemKit
import PMemVirt
import XCTest

/// Guests choose their flush instruction from CPUID; the offer says which
/// one they will use, at either privilege level.
final class GuestCPUIDTests: XCTestCase {
    func testGuestsUseTheDecidedOfferAtEveryPrivilegeLevel() throws {
        let kvm = try KVMGate.kvm()
        for privilege in GuestPrivilege.allCases {
            let offer = try GuestFlushOffer.decide(kvm: kvm, privilege: privilege, environment: [:])
            XCTAssertEqual(
                try guestChoice(offer, privilege: privilege, kvm: kvm), offer.instruction.rawValue,
                "\(privilege): \(offer.reason)")
        }
    }

    func testAnEnforcedOfferOfClflushOrClflushoptIsWhatTheGuestUses() throws {
        let kvm = try KVMGate.kvm()
        let levels = try enforcedLevels(kvm)
        guard !levels.isEmpty else { throw XCTSkip("this KVM shows guests the host's CPUID at every level") }
        for privilege in levels {
            for instruction in [FlushInstruction.clflush, .clflushopt] {
                let offer = GuestFlushOffer(instruction: instruction, reason: "test")
                XCTAssertEqual(try guestChoice(offer, privilege: privilege, kvm: kvm), instruction.rawValue)
            }
        }
    }

    func testEnvironmentCapsAnEnforcedOfferAndIsRefusedWhereItCannotBe() throws {
        let kvm = try KVMGate.kvm()
        let env = [GuestFlushOffer.environmentKey: "clflush"]
        for privilege in GuestPrivilege.allCases {
            if try enforcedLevels(kvm).contains(privilege) {
                XCTAssertEqual(
                    try GuestFlushOffer.decide(kvm: kvm, privilege: privilege, environment: env).instruction,
                    .clflush)
            } else {
                XCTAssertThrowsError(
                    try GuestFlushOffer.decide(kvm: kvm, privilege: privilege, environment: env))
            }
        }
        XCTAssertThrowsError(
            try GuestFlushOffer.decide(kvm: kvm, environment: [GuestFlushOffer.environmentKey: "movnt"]))
    }

    func testClwbIsOfferedOnlyWhereAGuestCanRunIt() throws {
        let kvm = try KVMGate.kvm()
        for privilege in GuestPrivilege.allCases {
            var c = VMConfiguration()
            c.privilege = privilege
            c.guestFlush = GuestFlushOffer(instruction: .clwb, reason: "test")
            let clwbRuns = (try? VirtualMachine(configuration: c, kvm: kvm).run(.clwb)) != nil
            let offer = try GuestFlushOffer.decide(kvm: kvm, privilege: privilege, environment: [:])
            if offer.instruction == .clwb {
                XCTAssertTrue(clwbRuns, "\(privilege): clwb offered but it fails: \(offer.reason)")
            } else if offer.enforced {
                XCTAssertFalse(clwbRuns, "\(privilege): clwb runs but was not offered: \(offer.reason)")
            }
        }
    }

    /// The privilege levels at which guests see the VMM's CPUID.
    private func enforcedLevels(_ kvm: KVM) throws -> [GuestPrivilege] {
        try GuestPrivilege.allCases.filter {
            try GuestFlushOffer.decide(kvm: kvm, privilege: $0, environment: [:]).enforced
        }
    }

    private func guestChoice(_ offer: GuestFlushOffer, privilege: GuestPrivilege, kvm: KVM) throws -> String?
    {
        let workload = FlushWorkload(iterations: 5, linesPerVCPU: 1)
        var c = try configuration(vcpus: 1, policy: .passthrough, workload: workload)
        c.privilege = privilege
        c.guestFlush = offer
        return try workload.run(c, kvm: kvm).flushInstruction
    }
}
