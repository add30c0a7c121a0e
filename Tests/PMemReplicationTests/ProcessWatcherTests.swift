import XCTest

@testable import PMemReplication

/// The watched application's state, read from the text of /proc/PID/stat
/// (the parser fuzz-sysfs-text drives with arbitrary text).
final class ProcessWatcherTests: XCTestCase {
    func testTheStateAfterTheLastParenthesisDecides() {
        XCTAssertTrue(ProcessWatcher.isRunning(stat: "4242 (repl (workload)) S 1 4242 4242 0 -1"))
        XCTAssertFalse(ProcessWatcher.isRunning(stat: "77 (app) Z 1 77 77 0 -1"))
        XCTAssertTrue(
            ProcessWatcher.isRunning(stat: "77 (a) Z) R 1"), "a name holding ') Z' is not the state")
        XCTAssertFalse(ProcessWatcher.isRunning(stat: "77 (app) X"))
        XCTAssertFalse(ProcessWatcher.isRunning(stat: ""), "no stat text: gone")
    }
}
