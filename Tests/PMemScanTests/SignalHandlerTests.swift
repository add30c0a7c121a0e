import Foundation
import TestSupport
import XCTest

/// Analysis leaves the process's signal handlers alone: libclang's crash
/// recovery would install its own for SIGSEGV, SIGBUS and more, and re-raise
/// faults it does not own, taking them from PMemProtect and Swift's crash
/// reporter. Checked in a fresh process, where libclang has not run yet.
final class SignalHandlerTests: XCTestCase {
    func testAnalysisInstallsNoSignalHandlers() throws {
        let r = try CLI.run(
            executable: "PMemKitPackageTests.xctest",
            ["PMemScanTests.SignalHandlerChild/testAnalysisLeavesSignalHandlersAlone"],
            environment: [SignalHandlerChild.key: "1", "SWIFT_BACKTRACE": "enable=no"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("Executed 1 test, with 0 failures"), r.stdout + r.stderr)
    }
}

/// What `SignalHandlerTests` runs in a fresh process; skipped when run directly.
final class SignalHandlerChild: XCTestCase {
    static let key = "PMEMKIT_SIGNAL_HANDLER_CHILD"

    func testAnalysisLeavesSignalHandlersAlone() throws {
        guard ProcessInfo.processInfo.environment[Self.key] != nil else {
            throw XCTSkip("runs only as the child process of SignalHandlerTests")
        }
        let signals = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP]
        let before = signals.map(Self.handler)
        _ = try Fixtures.analyze(["generated_header.c"])
        for (signal, handler) in zip(signals, before) {
            XCTAssertEqual(Self.handler(signal), handler, "analysis replaced the handler of signal \(signal)")
        }
    }

    /// The handler address `signal` has now (0: the default).
    static func handler(_ signal: Int32) -> UInt {
        var current = sigaction()
        sigaction(signal, nil, &current)
        return withUnsafeBytes(of: &current.__sigaction_handler) { $0.load(as: UInt.self) }
    }
}
