import Foundation
import PMemHeap
import PMemKit
import TestSupport
import XCTest

/// Opening a pool takes an exclusive lock on it: another process holding
/// the pool open makes the open fail as busy, but a short shared hold (the
/// HA agent reading a dead application's pool) only delays it.
final class PoolLockTests: XCTestCase {
    /// Found by the crash campaign (application phase, long mode): an
    /// application restarting while a new HA agent settled the previous,
    /// killed session (reading the pool under a shared lock for a few
    /// microseconds) failed with "is open in another process".
    func testAShortSharedHoldDelaysTheOpenInsteadOfFailingIt() throws {
        let path = try scratchDirectory(self) + "/pool"
        try PersistentHeap.create(path: path, size: 16 << 20).close()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_SH | LOCK_NB), 0)
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) {
            flock(fd, LOCK_UN)
            released.signal()
        }
        let heap = try PersistentHeap.open(path: path)
        try heap.close()
        released.wait()
    }

    func testAPoolHeldOpenIsStillReportedBusy() throws {
        let path = try scratchDirectory(self) + "/pool"
        try PersistentHeap.create(path: path, size: 16 << 20).close()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0, "as a process holding it open does")
        let start = Date()
        XCTAssertThrowsError(try PersistentHeap.open(path: path)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .busy, "\(error)")
            XCTAssertTrue("\(error)".contains("is open in another process"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "reported within the wait, not hung")
    }
}
