import PMemProtect
import XCTest

/// Page access through mprotect, under its gate.
final class MprotectMechanismTests: XCTestCase {
    private func scenarios() throws -> Scenarios { try Scenarios(.mprotect) }

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
