import CKVMShim
import Foundation
import PMemKit
import PMemVirt
import XCTest

/// Trap: the vFHA is a read-only memslot; every guest write exits and is
/// propagated to every backing region before the vCPU resumes.
final class VFHATrapTests: XCTestCase {
    func testOneVCPUEachFlushHintWriteGivesOnePropagationPerBackingRegion() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 50, linesPerVCPU: 4)
        let regions = [CountingTarget("regionA"), CountingTarget("regionB")]
        let report = try workload.run(
            configuration(vcpus: 1, policy: .trap, workload: workload, targets: regions), kvm: kvm)

        XCTAssertEqual(report.policy, .trap)
        XCTAssertEqual(report.guestFlushes, 50)
        XCTAssertEqual(report.fhaExits, 50)
        XCTAssertEqual(report.propagationRounds, 50)
        XCTAssertEqual(report.propagations, 100)
        XCTAssertEqual(regions.map(\.count), [50, 50])
        XCTAssertEqual(report.flushTargets, ["regionA", "regionB"])
        XCTAssertEqual(report.dataVerified, true)
    }

    func testKernelModeGuestTrapsTheSameWay() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 20, linesPerVCPU: 2)
        let region = CountingTarget("region0")
        var c = try configuration(vcpus: 1, policy: .trap, workload: workload, targets: [region])
        c.privilege = .kernel
        let report = try workload.run(c, kvm: kvm)
        XCTAssertEqual(report.privilege, .kernel)
        XCTAssertEqual(report.fhaExits, 20)
        XCTAssertEqual(region.count, 20)
        XCTAssertEqual(report.dataVerified, true)
    }

    func testEachPropagationFindsThatFlushsDataInTheHostMapping() throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 40, linesPerVCPU: 3)
        var c = try configuration(vcpus: 1, policy: .trap, workload: workload)
        let vpmem = c.vpmem!
        let seen = SeenSequences()
        let target = CountingTarget("region0") { number in
            // Propagation k serves the guest's k-th flush: its header and data line must be in the mapping.
            let sequence = UInt64(number)
            let header = vpmem.base.load(fromByteOffset: workload.headerOffset(cpu: 0), as: UInt64.self)
            let line = workload.lineOffset(cpu: 0, sequence: sequence)
            let words = (0..<8).map { vpmem.base.load(fromByteOffset: line + $0 * 8, as: UInt64.self) }
            seen.record(
                header: header,
                matches: words.allSatisfy { $0 == FlushWorkload.word(cpu: 0, sequence: sequence) })
        }
        c.vfha.targets = [target]
        let report = try workload.run(c, kvm: kvm)

        XCTAssertEqual(report.fhaExits, 40)
        XCTAssertEqual(seen.headers, Array(1...40).map(UInt64.init))
        XCTAssertEqual(seen.mismatchedLines, 0)
    }

    func testTwoVCPUsEveryWriteIsCoveredByALaterPropagation() throws {
        try checkCoverage(vcpus: 2)
    }

    func testFourVCPUsEveryWriteIsCoveredByALaterPropagation() throws {
        try checkCoverage(vcpus: 4)
    }

    /// Every trapped write has a propagation that began after it arrived and
    /// ended before its vCPU resumed, and the targets were flushed inside that
    /// propagation; every propagation is the first such for some write (no
    /// needless duplicates); no write is lost.
    private func checkCoverage(vcpus: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let kvm = try KVMGate.kvm()
        let workload = FlushWorkload(iterations: 200, linesPerVCPU: 8)
        let clock = EventClock()
        let log = CoalescerLog(clock: clock)
        let region = CountingTarget("region0", clock: clock)
        let report = try workload.run(
            configuration(vcpus: vcpus, policy: .trap, workload: workload, targets: [region], observer: log),
            kvm: kvm)

        let total = vcpus * workload.iterations
        XCTAssertEqual(report.guestFlushes, UInt64(total), file: file, line: line)
        XCTAssertEqual(report.fhaExits, total, file: file, line: line)
        XCTAssertEqual(report.dataVerified, true, file: file, line: line)
        let writes = log.writes
        let propagations = log.propagations
        XCTAssertEqual(writes.count, total, file: file, line: line)
        XCTAssertEqual(propagations.count, report.propagationRounds, file: file, line: line)
        XCTAssertLessThanOrEqual(propagations.count, total, file: file, line: line)

        // The target's k-th flush happened inside propagation k.
        let flushes = region.propagations
        XCTAssertEqual(flushes.count, propagations.count, file: file, line: line)
        for (flush, propagation) in zip(flushes, propagations) {
            XCTAssertGreaterThan(flush.begin, propagation.begin, file: file, line: line)
            XCTAssertLessThan(flush.end, propagation.end ?? 0, file: file, line: line)
        }

        var firstCovering = Set<Int>()
        for write in writes {
            guard let completed = write.completed else {
                XCTFail("vCPU \(write.vcpu): a write never completed", file: file, line: line)
                continue
            }
            // Propagations run one at a time, in order: the first that began after the write covers it.
            guard let index = propagations.firstIndex(where: { $0.begin > write.arrived }) else {
                XCTFail("vCPU \(write.vcpu): no propagation began after a write", file: file, line: line)
                continue
            }
            XCTAssertLessThan(
                propagations[index].end ?? .max, completed, "resumed before its propagation ended",
                file: file,
                line: line)
            firstCovering.insert(index)
        }
        XCTAssertEqual(
            firstCovering.count, propagations.count, "a propagation served no write", file: file, line: line)
    }
}

/// What the data-inspecting target saw, propagation by propagation.
final class SeenSequences: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [UInt64] = []
    private var mismatches = 0

    func record(header: UInt64, matches: Bool) {
        lock.withLock {
            seen.append(header)
            if !matches { mismatches += 1 }
        }
    }

    var headers: [UInt64] { lock.withLock { seen } }
    var mismatchedLines: Int { lock.withLock { mismatches } }
}
