import CKVMShim
import Foundation
import PMemKit
import PMemVirt
import XCTest

/// Guests choose their flush instruction from the CPUID the VMM sets.
final class GuestCPUIDTests: XCTestCase {
    func testGuestUsesClflushWhenThatIsAllItIsOffered() throws {
        XCTAssertEqual(try guestChoice(offering: .clflush), "clflush")
    }

    func testGuestUsesClflushoptWhenOfferedIt() throws {
        XCTAssertEqual(try guestChoice(offering: .clflushopt), "clflushopt")
    }

    func testGuestUsesWhatTheDecidedOfferSays() throws {
        let kvm = try KVMGate.kvm()
        let offer = try GuestFlushOffer.decide(kvm: kvm, environment: [:])
        XCTAssertEqual(try guestChoice(offering: offer.instruction, kvm: kvm), offer.instruction.rawValue)
    }

    func testEnvironmentCapsTheOffer() throws {
        let kvm = try KVMGate.kvm()
        let offer = try GuestFlushOffer.decide(kvm: kvm, environment: [GuestFlushOffer.environmentKey: "clflush"])
        XCTAssertEqual(offer.instruction, .clflush)
        XCTAssertThrowsError(
            try GuestFlushOffer.decide(kvm: kvm, environment: [GuestFlushOffer.environmentKey: "movnt"]))
    }

    func testOfferNeverIncludesClwbWhenGuestClwbFailsHere() throws {
        let kvm = try KVMGate.kvm()
        var c = VMConfiguration()
        c.guestFlush = GuestFlushOffer(instruction: .clwb, reason: "test")
        let clwbRuns = (try? VirtualMachine(configuration: c, kvm: kvm).run(.clwb)) != nil
        let offer = try GuestFlushOffer.decide(kvm: kvm, environment: [:])
        if !clwbRuns {
            XCTAssertNotEqual(offer.instruction, .clwb, offer.reason)
            XCTAssertTrue(offer.reason.contains("clwb fails"), offer.reason)
        }
    }

    private func guestChoice(offering instruction: FlushInstruction, kvm: KVM? = nil) throws -> String? {
        let kvm = try kvm ?? KVMGate.kvm()
        let workload = FlushWorkload(iterations: 5, linesPerVCPU: 1)
        var c = try configuration(vcpus: 1, policy: .passthrough, workload: workload)
        c.guestFlush = GuestFlushOffer(instruction: instruction, reason: "test")
        return try workload.run(c, kvm: kvm).flushInstruction
    }
}
