import PMemProtect
import TestSupport
import XCTest

/// Page access through userfaultfd, under its gate.
final class UserfaultfdMechanismTests: XCTestCase {
    private func scenarios() throws -> Scenarios { try Scenarios(.userfaultfd) }

    func testCountTakesOneFaultPerPageAndLetsEveryWriteThrough() throws {
        try scenarios().countTakesOneFaultPerPageAndLetsEveryWriteThrough()
    }

    func testReadsOfAReadOnlyRangeDoNotFault() throws {
        try scenarios().readsOfAReadOnlyRangeDoNotFault()
    }

    func testNoneAccessFaultsOnReads() throws {
        try scenarios().noneAccessFaultsOnReads()
    }

    func testAllowLiftsTheWholeRangeOnTheFirstFault() throws {
        try scenarios().allowLiftsTheWholeRangeOnTheFirstFault()
    }

    func testASwiftHandlerRunsOncePerFaultOnItsOwnThreadWithTheFaultDetails() throws {
        try scenarios().aSwiftHandlerRunsOncePerFaultOnItsOwnThreadWithTheFaultDetails()
    }

    func testAHandlerIsCalledAgainForEachRetriedFault() throws {
        try scenarios().aHandlerIsCalledAgainForEachRetriedFault()
    }

    func testAHandlerThatChangesTheAccessItselfRetries() throws {
        try scenarios().aHandlerThatChangesTheAccessItselfRetries()
    }

    func testAHandlerCanLiftJustThePageThatFaulted() throws {
        try scenarios().aHandlerCanLiftJustThePageThatFaulted()
    }

    func testConcurrentFaultingThreadsEachGetTheirDecision() throws {
        try scenarios().concurrentFaultingThreadsEachGetTheirDecision()
    }

    func testAPMemMappingCanBeProtected() throws {
        try scenarios().aPMemMappingCanBeProtected()
    }

    func testUnprotectMakesTheRangeReadWriteAgain() throws {
        try scenarios().unprotectMakesTheRangeReadWriteAgain()
    }
}

/// userfaultfd write-protect covers anonymous and shmem memory only.
final class UserfaultfdMemoryKindTests: XCTestCase {
    func testAFileOnADiskFileSystemIsRefusedWhenUserfaultfdIsAskedFor() throws {
        try ProtectGate.require(.userfaultfd)
        let mapping = try scratchMapping(in: "/var/tmp", bytes: 2 * Pages.size)
        XCTAssertThrowsError(
            try PageProtector.shared().protect(
                mapping, access: .read, onFault: .count, mechanism: .userfaultfd)
        ) { error in
            XCTAssertTrue("\(error)".contains("userfaultfd"), "\(error)")
        }
    }

    func testAFileOnADiskFileSystemFallsBackToMprotectWhenUserfaultfdIsTheProcessChoice() throws {
        let protector = try PageProtector.shared()
        guard protector.choice.mechanism == .userfaultfd else {
            throw XCTSkip(
                "the process's mechanism is \(protector.choice.mechanism.rawValue), not userfaultfd")
        }
        let mapping = try scratchMapping(in: "/var/tmp", bytes: 2 * Pages.size)
        let range = try protector.protect(mapping, access: .read, onFault: .count)
        XCTAssertEqual(range.mechanism, .mprotect)
        XCTAssertTrue(
            range.mechanismReason.contains("userfaultfd write-protect does not cover"), range.mechanismReason)
        mapping.base.storeBytes(of: UInt64(1), as: UInt64.self)
        XCTAssertEqual(range.faults, 1)

        let shm = try scratchMapping(in: "/dev/shm", bytes: 2 * Pages.size)
        XCTAssertEqual(try protector.protect(shm, access: .read, onFault: .count).mechanism, .userfaultfd)
    }
}

/// userfaultfd delivers faults as SIGBUS in the faulting thread (the
/// default where the kernel can) or as messages to the handler thread; one
/// delivery per process, so the other is tested in a child process.
final class UserfaultfdDeliveryTests: XCTestCase {
    func testTheOverrideIsParsedStrictly() throws {
        let key = UserfaultfdDelivery.environmentKey
        XCTAssertNil(try UserfaultfdDelivery.requested(environment: [:]))
        XCTAssertEqual(try UserfaultfdDelivery.requested(environment: [key: "message"]), .message)
        XCTAssertThrowsError(try UserfaultfdDelivery.requested(environment: [key: "mail"])) { error in
            XCTAssertTrue("\(error)".contains("use auto, signal, message"), "\(error)")
        }
    }

    func testTheScenariosPassWithTheOtherDelivery() throws {
        try ProtectGate.require(.userfaultfd)
        let other: UserfaultfdDelivery = MechanismSupport.userfaultfdDelivery == .signal ? .message : .signal
        let r = try CLI.run(
            executable: "PMemKitPackageTests.xctest", ["PMemProtectTests.UserfaultfdMechanismTests"],
            environment: [UserfaultfdDelivery.environmentKey: other.rawValue, "SWIFT_BACKTRACE": "enable=no"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let summary = (r.stdout + r.stderr).split(separator: "\n").last { $0.contains("Executed") }
        XCTAssertTrue(summary?.contains("with 0 failures") == true, "\(other): \(summary ?? "no summary")")
        XCTAssertFalse(summary?.contains("skipped") == true, "\(other): \(summary ?? "")")
    }
}
