import PMemProtect
import XCTest

/// Page access through pkeys, under its gate.
final class PKeysMechanismTests: XCTestCase {
    private func scenarios() throws -> Scenarios { try Scenarios(.pkeys) }

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

/// With pkeys, access is each thread's own.
final class PKeysPerThreadTests: XCTestCase {
    func testSetAccessChangesTheCallingThreadOnly() throws {
        try ProtectGate.require(.pkeys)
        let pages = Pages(1)
        let range = try PageProtector.shared().protect(
            pages.base, length: pages.length, access: .readWrite, onFault: .count, mechanism: .pkeys,
            owner: pages)
        let other = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        // Started while this thread still has read-write: it keeps it.
        Thread {
            other.signal()
            go.wait()
            pages.base.storeBytes(of: UInt64(1), toByteOffset: 8, as: UInt64.self)
            done.signal()
        }.start()
        other.wait()
        try range.setAccess(.read)
        go.signal()
        done.wait()
        XCTAssertEqual(range.faults, 0, "the other thread's write faulted")
        pages.base.storeBytes(of: UInt64(2), as: UInt64.self)
        XCTAssertEqual(range.faults, 1)
    }

    func testAThreadThatNeverSetItsRightsGetsTheRangesDefault() throws {
        try ProtectGate.require(.pkeys)
        let pages = Pages(1)
        pages.base.storeBytes(of: UInt64(42), as: UInt64.self)
        let read = Counter()
        let step = DispatchSemaphore(value: 0)
        let stepped = DispatchSemaphore(value: 0)
        // Started before the key exists: its PKRU gives it nothing on that key.
        Thread {
            step.wait()
            for _ in 0..<Int(pages.base.load(as: UInt64.self)) { read.increment() }
            stepped.signal()
            step.wait()
            pages.base.storeBytes(of: UInt64(43), as: UInt64.self)
            stepped.signal()
        }.start()
        let range = try PageProtector.shared().protect(
            pages.base, length: pages.length, access: .read, onFault: .count, mechanism: .pkeys, owner: pages)
        step.signal()
        stepped.wait()
        XCTAssertEqual(read.value, 42, "the default (read) let the other thread read")
        XCTAssertEqual(range.faults, 0, "getting the default is not a fault")
        step.signal()
        stepped.wait()
        XCTAssertEqual(range.faults, 1, "the default forbids writes: that one faulted")
        XCTAssertEqual(pages.base.load(as: UInt64.self), 43)
    }

    func testAKeyCoversItsWholeRange() throws {
        try ProtectGate.require(.pkeys)
        let pages = Pages(2)
        let range = try PageProtector.shared().protect(
            pages.base, length: pages.length, access: .read, onFault: .count, mechanism: .pkeys, owner: pages)
        XCTAssertThrowsError(try range.setAccess(.readWrite, offset: 0, length: Pages.size)) { error in
            XCTAssertTrue("\(error)".contains("whole ranges"), "\(error)")
        }
    }
}
