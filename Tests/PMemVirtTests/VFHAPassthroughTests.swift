import Foundation
import PMemKit
import PMemVirt
import XCTest

/// Passthrough: the vFHA is an ordinary page; guest flush-hint writes never exit.
final class VFHAPassthroughTests: XCTestCase {
    func testOneVCPUNoExits() throws { try checkNoExits(vcpus: 1) }
    func testTwoVCPUsNoExits() throws { try checkNoExits(vcpus: 2) }
    func testFourVCPUsNoExits() throws { try checkNoExits(vcpus: 4) }

    private func checkNoExits(vcpus: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 300, linesPerVCPU: 8)
        let region = CountingTarget("region0")
        var c = try configuration(vcpus: vcpus, policy: .passthrough, workload: workload, targets: [region])
        c.bootArguments = workload.bootArguments
        let vm = try VirtualMachine(configuration: c, kvm: kvm)
        let result = try vm.run(.flush)
        let report = try VMFlushReport(vm: vm, guest: "flush", run: result)

        XCTAssertEqual(report.policy, .passthrough, file: file, line: line)
        XCTAssertEqual(report.guestFlushes, UInt64(vcpus * workload.iterations), file: file, line: line)
        XCTAssertEqual(report.fhaExits, 0, file: file, line: line)
        XCTAssertEqual(report.propagations, 0, file: file, line: line)
        XCTAssertEqual(region.count, 0, file: file, line: line)
        XCTAssertEqual(
            result.vcpus.map(\.exits.mmio), Array(repeating: 0, count: vcpus), file: file, line: line)
        XCTAssertTrue(
            workload.verify(c.vpmem!, vcpus: vcpus), "guest data missing from the host mapping", file: file,
            line: line)
    }
}
