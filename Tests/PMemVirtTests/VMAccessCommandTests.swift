import Foundation
import TestSupport
import XCTest

/// `pmemctl vm access`: the guest protects its pages, faults, and a guest,
/// host or command handler decides; JSON and exit codes.
final class VMAccessCommandTests: XCTestCase {
    private func json(_ r: CLIResult) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
    }

    func testTheGuestHandlerTakesOneFaultPerPage() throws {
        _ = try KVMGate.kvm()
        let object = try json(CLI.run(["vm", "access", "--pages", "3", "--vcpus", "2", "--json"]))
        XCTAssertEqual(object["faults"] as? Int, 6)
        XCTAssertEqual(object["guest_handler_entries"] as? Int, 6)
        XCTAssertEqual(object["host_handler_calls"] as? Int, 0)
        XCTAssertEqual(object["guest_errors"] as? Int, 0)
        XCTAssertEqual(object["handler"] as? String, "guest")
        XCTAssertEqual(object["access"] as? String, "read-only")
    }

    func testACommandDecidesEachFaultWithTheFaultInItsEnvironment() throws {
        _ = try KVMGate.kvm()
        let dir = TemporaryDirectory()
        let log = dir.path + "/faults"
        let command =
            "echo \"$PMEMKIT_FAULT_ACCESS $PMEMKIT_FAULT_GPA $PMEMKIT_FAULT_PAGE_ACCESS\" >> \(log); echo skip"
        let object = try json(
            CLI.run([
                "vm", "access", "--pages", "2", "--access", "none", "--reads", "--answer", "skip",
                "--on-fault", command, "--json",
            ]))
        XCTAssertEqual(object["host_handler_calls"] as? Int, 2)
        XCTAssertEqual(object["guest_errors"] as? Int, 0)
        XCTAssertNil(object["answer"], "the command answered, not --answer")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines, ["read 0x800000 none", "read 0x801000 none"])
    }

    func testAHandlerEndingTheVMExitsOneWithOneLineNamingTheFault() throws {
        _ = try KVMGate.kvm()
        assertFailure(try CLI.run(["vm", "access", "--answer", "end"]), mentions: "ended the VM on a write")
        assertFailure(
            try CLI.run(["vm", "access", "--on-fault", "exit 3"]),
            mentions: "the fault command 'exit 3' (exit 3")
    }

    /// Processes whose command line contains `marker`.
    private func processes(running marker: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = pid_t(entry),
                let bytes = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                String(decoding: bytes.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
            else { return nil }
            return pid
        }
    }

    func testAFaultCommandThatNeverEndsIsKilledAtTheTimeoutAndTheRunSaysSo() throws {
        _ = try KVMGate.kvm()
        // A duration no other test uses, to find the command's processes afterwards.
        let marker = "sleep 1000.\(getpid())"
        defer { for pid in processes(running: marker) { kill(pid, SIGKILL) } }
        let start = Date()
        let r = try CLI.run(["vm", "access", "--on-fault", marker, "--timeout", "2"], timeout: 60)
        assertFailure(r, mentions: "the fault command '\(marker)'")
        XCTAssertTrue(r.stderr.contains("killed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("within 2.0 s"), r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "the run ends soon after its timeout")
        XCTAssertEqual(processes(running: marker), [], "the command's process group is gone")
    }

    func testBadUsageExitsTwo() throws {
        assertUsageError(try CLI.run(["vm", "access", "--answer", "maybe"]), mentions: "maybe")
        assertUsageError(try CLI.run(["vm", "access", "--reads"]), mentions: "--access none")
        assertUsageError(
            try CLI.run(["vm", "access", "--handler", "guest", "--on-fault", "true"]), mentions: "--on-fault")
    }
}
