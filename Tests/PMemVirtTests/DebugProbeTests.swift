import PMemVirt
import XCTest

final class DebugProbeTests: XCTestCase {
    func testProbe() throws {
        let kvm = try KVMGate.kvm()
        print("OFFER", try GuestFlushOffer.decide(kvm: kvm))
        var c = VMConfiguration()
        c.guestFlush = GuestFlushOffer(instruction: .clwb, reason: "x")
        c.vfha.policy = .passthrough
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        do {
            let r = try vm.run(.clwb)
            print("RAN", r)
        } catch { print("ERR", error) }
    }
}
