import Foundation
import PMemKit
import PMemVirt
import XCTest

/// The coalescer without a VM: threads stand in for vCPUs, a target that
/// blocks until released stands in for a slow WPQ flush.
final class FlushCoalescerTests: XCTestCase {
    func testSequentialWritesEachGetOnePropagationOfEveryTarget() throws {
        let a = CountingTarget("regionA")
        let b = CountingTarget("regionB")
        let coalescer = FlushCoalescer(targets: [a, b])
        for _ in 0..<5 { try coalescer.flushHintWritten(vcpu: 0) }

        XCTAssertEqual(a.count, 5)
        XCTAssertEqual(b.count, 5)
        XCTAssertEqual(coalescer.statistics, .init(writes: 5, propagations: 5, targetFlushes: 10))
    }

    func testWritesArrivingDuringAPropagationAreServedByExactlyOneNextPropagation() throws {
        let target = GatedTarget()
        let events = ArrivalCounter()
        let coalescer = FlushCoalescer(targets: [target], observer: events)
        let done = DispatchGroup()
        let errors = ErrorBox()

        func write(_ vcpu: Int) {
            done.enter()
            Thread {
                do { try coalescer.flushHintWritten(vcpu: vcpu) } catch { errors.add(error) }
                done.leave()
            }.start()
        }
        write(0)
        target.waitUntilFlushing()  // propagation 1 runs and holds
        for vcpu in 1...3 { write(vcpu) }
        events.waitForArrivals(4)  // vCPUs 1-3 arrived while propagation 1 runs
        target.release()
        done.wait()

        XCTAssertTrue(errors.all.isEmpty)
        XCTAssertEqual(target.flushes, 2)
        XCTAssertEqual(coalescer.statistics, .init(writes: 4, propagations: 2, targetFlushes: 2))
        XCTAssertEqual(events.coveredBy[0], 1)
        XCTAssertEqual([1, 2, 3].map { events.coveredBy[$0] }, [2, 2, 2])
    }

    func testWithoutCombiningEveryWriteRunsItsOwnPropagation() {
        let target = CountingTarget("region0")
        let coalescer = FlushCoalescer(targets: [target], combining: false)
        let errors = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: 8) { vcpu in
            do { try coalescer.flushHintWritten(vcpu: vcpu) } catch { errors.add(error) }
        }
        XCTAssertTrue(errors.all.isEmpty)
        XCTAssertEqual(target.count, 8)
        XCTAssertEqual(coalescer.statistics, .init(writes: 8, propagations: 8, targetFlushes: 8))
    }

    func testAFailedPropagationFailsTheWritesItCovers() {
        let coalescer = FlushCoalescer(targets: [FailingTarget()])
        XCTAssertThrowsError(try coalescer.flushHintWritten(vcpu: 0)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .system)
        }
        XCTAssertEqual(coalescer.statistics.propagations, 1)
    }
}

/// A target whose first flush holds until `release()`; later flushes pass.
private final class GatedTarget: FlushTarget, @unchecked Sendable {
    let name = "gated"
    private let entered = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var count = 0

    func flush() throws {
        let first = lock.withLock {
            count += 1
            return count == 1
        }
        if first {
            entered.signal()
            gate.wait()
        }
    }

    func waitUntilFlushing() { entered.wait() }
    func release() { gate.signal() }
    var flushes: Int { lock.withLock { count } }
}

/// A target that always fails, as a WPQ flush of a vanished region would.
private final class FailingTarget: FlushTarget, @unchecked Sendable {
    let name = "failing"
    func flush() throws { throw PMemError.system("deep flush", errno: EIO, detail: name) }
}

/// Counts arrivals (letting a test wait for them) and records which propagation covered each vCPU.
private final class ArrivalCounter: VFHAObserver, @unchecked Sendable {
    private let condition = NSCondition()
    private var arrived = 0
    private var covered: [Int: UInt64] = [:]

    func flushHintArrived(vcpu: Int) {
        condition.withLock {
            arrived += 1
            condition.broadcast()
        }
    }

    func propagationBegan(_ number: UInt64) {}
    func propagationEnded(_ number: UInt64) {}

    func flushHintCompleted(vcpu: Int, coveredBy number: UInt64) {
        condition.withLock { covered[vcpu] = number }
    }

    func waitForArrivals(_ n: Int) {
        condition.withLock { while arrived < n { condition.wait() } }
    }

    var coveredBy: [Int: UInt64] { condition.withLock { covered } }
}

/// Errors thrown on other threads.
private final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []
    func add(_ error: any Error) { lock.withLock { errors.append(error) } }
    var all: [any Error] { lock.withLock { errors } }
}
