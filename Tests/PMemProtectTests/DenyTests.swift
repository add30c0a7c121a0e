import Foundation
import PMemProtect
import XCTest

/// A denied access never happens: the fault is reported and the process
/// ends with SIGSEGV. Each test runs the access in a forked child and reads
/// the report from a pipe.
final class DenyTests: XCTestCase {
    /// Forks; the child protects nothing new, points the report at a pipe and
    /// runs `access`; returns how it ended and what it reported.
    private func inChild(_ access: () -> Void) throws -> (signal: Int32?, report: String) {
        var fds: [Int32] = [0, 0]
        // Close-on-exec: a crash reporter the child might start must not keep the pipe open.
        XCTAssertEqual(pipe(&fds), 0)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid = fork()
        if pid == 0 {
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
            setrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)
            close(fds[0])
            try? PageProtector.shared().reportDenials(to: fds[1])
            access()
            _exit(0)
        }
        close(fds[1])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        close(fds[0])
        let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        return (signaled ? status & 0x7f : nil, String(decoding: bytes, as: UTF8.self))
    }

    private func strayWriteIsDeniedAndReported(_ mechanism: ProtectionMechanism) throws {
        try ProtectGate.require(mechanism)
        let pages = Pages(2)
        pages.page(1).storeBytes(of: UInt64(0x1111), toByteOffset: 128, as: UInt64.self)
        let range = try PageProtector.shared().protect(
            pages.base, length: pages.length, access: .read, onFault: .deny, label: "ledger",
            objects: ObjectLayout(name: "Entry", size: 32), mechanism: mechanism, owner: pages)
        let target = pages.page(1) + 128
        let ended = try inChild { target.storeBytes(of: UInt64(0x2222), as: UInt64.self) }

        XCTAssertEqual(
            ended.signal, SIGSEGV, "the child was not ended by SIGSEGV; it reported: \(ended.report)")
        let expected =
            "pmemkit: denied write at 0x\(String(UInt(bitPattern: target), radix: 16)) in 'ledger' object "
            + "\((Pages.size + 128) / 32) +0 (range "
        XCTAssertTrue(ended.report.hasPrefix(expected), ended.report)
        XCTAssertTrue(ended.report.hasSuffix(", \(mechanism.rawValue))\n"), ended.report)
        // The parent's pages never saw the write (the child's copy did not either: it died first).
        XCTAssertEqual(target.load(as: UInt64.self), 0x1111)
        XCTAssertEqual(range.faults, 0)
    }

    func testAForkedChildWithoutTheHandlerThreadDeniesInsteadOfWaiting() throws {
        let pages = Pages(1)
        let range = try PageProtector.shared().protect(
            pages.base, length: pages.length, access: .read, onFault: .handled { _, _ in .allow },
            label: "handled", mechanism: .mprotect, owner: pages)
        let ended = try inChild { pages.base.storeBytes(of: UInt64(1), as: UInt64.self) }
        XCTAssertEqual(range.faults, 0, "the parent took no fault")
        XCTAssertEqual(ended.signal, SIGSEGV, ended.report)
        XCTAssertTrue(ended.report.hasPrefix("pmemkit: denied write at 0x"), ended.report)
        XCTAssertTrue(ended.report.hasSuffix(": no handler thread\n"), ended.report)
    }

    func testAStrayWriteUnderMprotectIsDeniedAndReportedWithItsObject() throws {
        try strayWriteIsDeniedAndReported(.mprotect)
    }

    func testAStrayWriteUnderPKeysIsDeniedAndReportedWithItsObject() throws {
        try strayWriteIsDeniedAndReported(.pkeys)
    }
}
