import CFaultShim
import Foundation
import PMemKit
import PMemProtect
import TestSupport
import XCTest

/// A page guard: memory read-only outside write windows; windows nest and,
/// without pkeys, overlap across threads.
final class PageGuardTests: XCTestCase {
    private func guarded(_ pages: Pages, _ mechanism: ProtectionMechanism) throws -> PageGuard {
        try ProtectGate.require(mechanism)
        return try PageGuard(
            pages.base, length: pages.length, label: "guarded", owner: pages, mechanism: mechanism)
    }

    private func writesInsideWindowsGoThroughWithoutFaults(_ mechanism: ProtectionMechanism) throws {
        let pages = Pages(2)
        let guarded = try guarded(pages, mechanism)
        XCTAssertEqual(guarded.range.access, .read)
        try guarded.withWrites {
            pages.page(1).storeBytes(of: UInt64(7), as: UInt64.self)
            try guarded.withWrites { pages.page(0).storeBytes(of: UInt64(8), as: UInt64.self) }
            pages.page(0).storeBytes(of: UInt64(9), toByteOffset: 8, as: UInt64.self)
        }
        XCTAssertEqual(guarded.range.faults, 0)
        XCTAssertEqual(guarded.range.access, .read)
        XCTAssertEqual(pages.page(1).load(as: UInt64.self), 7)
        XCTAssertEqual(pages.page(0).load(fromByteOffset: 8, as: UInt64.self), 9)
    }

    func testWritesInsideWindowsGoThroughWithoutFaultsUnderMprotect() throws {
        try writesInsideWindowsGoThroughWithoutFaults(.mprotect)
    }

    func testWritesInsideWindowsGoThroughWithoutFaultsUnderUserfaultfd() throws {
        try writesInsideWindowsGoThroughWithoutFaults(.userfaultfd)
    }

    func testWritesInsideWindowsGoThroughWithoutFaultsUnderPKeys() throws {
        try writesInsideWindowsGoThroughWithoutFaults(.pkeys)
    }

    func testWindowsOfTwoThreadsOverlapAndTheLastOneClosing() throws {
        let pages = Pages(1)
        let guarded = try guarded(pages, .mprotect)
        let opened = DispatchSemaphore(value: 0)
        let close = DispatchSemaphore(value: 0)
        let closed = DispatchSemaphore(value: 0)
        Thread {
            try? guarded.beginWrites()
            opened.signal()
            close.wait()
            try? guarded.endWrites()
            closed.signal()
        }.start()
        opened.wait()
        try guarded.beginWrites()
        try guarded.endWrites()
        XCTAssertEqual(guarded.range.access, .readWrite, "the other thread's window is still open")
        pages.base.storeBytes(of: UInt64(1), as: UInt64.self)
        close.signal()
        closed.wait()
        XCTAssertEqual(guarded.range.access, .read)
        XCTAssertEqual(guarded.range.faults, 0)
    }

    func testEndingWithNoWindowOpenIsAnError() throws {
        let pages = Pages(1)
        let guarded = try guarded(pages, .mprotect)
        XCTAssertThrowsError(try guarded.endWrites()) { error in
            XCTAssertTrue("\(error)".contains("no window open"), "\(error)")
        }
    }

    /// Runs `PageGuardChild/test` in a child process with `environment`; returns what it did.
    static func runChild(_ test: String, environment: [String: String]) throws -> CLIResult {
        try CLI.run(
            executable: "PMemKitPackageTests.xctest", ["PMemProtectTests.PageGuardChild/\(test)"],
            environment: environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { a, _ in a })
    }

    func testAStrayWriteIsReportedWithTheObjectItHitAndNeverReachesTheFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.makeFile("pool", size: 4 * Pages.size, byte: 0x11)
        let r = try Self.runChild(
            "testStrayWriteIntoAGuardedMapping", environment: [PageGuardChild.poolKey: path])

        XCTAssertEqual(r.status, SIGSEGV, "the child did not end by SIGSEGV: \(r.stderr)")
        let stray = r.stderr.split(separator: "\n").first { $0.hasPrefix("pmemkit: stray write at 0x") }
        XCTAssertNotNil(stray, r.stderr)
        XCTAssertTrue(
            stray?.contains(
                "(+\(PageGuardChild.strayOffset)) in 'pool', hitting Entry #\(PageGuardChild.strayOffset / 64) +8"
            ) == true, r.stderr)
        XCTAssertTrue(r.stderr.contains("pmemkit: denied write at 0x"), r.stderr)
        XCTAssertTrue(r.stderr.contains(": the handler denied it"), r.stderr)
        // The window's write reached the file; the stray one did not.
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertEqual(bytes[PageGuardChild.windowOffset], 0x22)
        XCTAssertEqual(bytes[PageGuardChild.strayOffset], 0x11)
    }

    func testWithPKeysAnotherThreadsWriteIsStrayEvenWhileAWindowIsOpen() throws {
        try ProtectGate.require(.pkeys)
        let r = try Self.runChild(
            "testAnotherThreadWritesDuringAWindow", environment: [PageGuardChild.poolKey: "pkeys"])
        XCTAssertEqual(r.status, SIGSEGV, "the child did not end by SIGSEGV: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("pmemkit: stray write at 0x"), r.stderr)
        XCTAssertFalse(r.stderr.contains("the other thread's write went through"), r.stderr)
    }
}

/// What `PageGuardTests` runs in a child process, which ends by SIGSEGV.
/// Run directly (without `PMEMKIT_GUARD_CHILD`), it is skipped.
final class PageGuardChild: XCTestCase {
    static let poolKey = "PMEMKIT_GUARD_CHILD"
    static let windowOffset = 64 + 8
    static let strayOffset = Pages.size + 128 + 8

    private func childSetting() throws -> String {
        guard let value = ProcessInfo.processInfo.environment[Self.poolKey] else {
            throw XCTSkip("runs only as the child process of PageGuardTests")
        }
        return value
    }

    func testStrayWriteIntoAGuardedMapping() throws {
        let path = try childSetting()
        let mapping = try PMemMapping(path: path)
        let base = UInt(bitPattern: mapping.base)
        let guarded = try PageGuard(
            mapping.base, length: mapping.size, label: "pool", owner: mapping,
            describe: { address in
                let offset = Int(UInt(bitPattern: address) - base)
                return "Entry #\(offset / 64) +\(offset % 64)"
            })
        try guarded.withWrites { mapping.pointer(at: Self.windowOffset).storeBytes(of: 0x22, as: UInt8.self) }
        mapping.persist(offset: 0, length: mapping.size)
        mapping.pointer(at: Self.strayOffset).storeBytes(of: 0x33, as: UInt8.self)
        XCTFail("the stray write went through")
    }

    func testAnotherThreadWritesDuringAWindow() throws {
        _ = try childSetting()
        let pages = Pages(1)
        let guarded = try PageGuard(
            pages.base, length: pages.length, label: "pkeys", owner: pages, mechanism: .pkeys)
        // Started before the window opens: a thread inherits its creator's rights.
        let go = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            go.wait()
            XCTAssertEqual(pages.base.load(as: UInt64.self), 0, "a read, allowed by the guard's default")
            pages.base.storeBytes(of: UInt64(1), as: UInt64.self)
            FileHandle.standardError.write(Data("the other thread's write went through\n".utf8))
            done.signal()
        }.start()
        try guarded.beginWrites()
        go.signal()
        done.wait()
        XCTFail("the other thread's write was not stopped")
    }
}
