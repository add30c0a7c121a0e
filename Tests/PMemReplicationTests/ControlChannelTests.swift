import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// A control-socket client never waits for ever: an agent that accepts and
/// never answers is reported, in one line, once the timeout passed.
final class ControlChannelTests: XCTestCase {
    /// A Unix socket that accepts connections (the kernel queues them) and never answers.
    private final class SilentAgent {
        let path: String
        private let fd: Int32

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
                throw PMemError.system("listen", errno: errno, detail: path)
            }
        }

        deinit { close(fd) }
    }

    /// Runs pmemctl, killing it (and failing) if it is still running after `limit` seconds.
    private func runBounded(_ arguments: [String], limit: TimeInterval) throws -> (CLIResult, TimeInterval) {
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent("pmemctl")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let start = Date()
        try process.run()
        while process.isRunning && Date().timeIntervalSince(start) < limit { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            XCTFail("pmemctl \(arguments.joined(separator: " ")) was still waiting after \(limit) s")
        }
        process.waitUntilExit()
        let elapsed = Date().timeIntervalSince(start)
        let result = CLIResult(
            status: process.terminationStatus,
            stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        return (result, elapsed)
    }

    func testASilentAgentIsReportedOnceTheTimeoutPassed() throws {
        let dir = TemporaryDirectory()
        let agent = try SilentAgent(path: dir.file("log.sock"))
        let start = Date()
        XCTAssertThrowsError(
            try AgentControl.send("status", socket: agent.path, timeout: .milliseconds(300))
        ) {
            XCTAssertEqual(
                "\($0)", "ha: the agent at \(agent.path) did not answer within 0.3 s")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testHAStatusAndPowerFailGiveUpOnASilentAgentWithOneLine() throws {
        let dir = TemporaryDirectory()
        let agent = try SilentAgent(path: dir.file("log.sock"))
        for command in ["status", "power-fail", "metrics"] {
            let (result, elapsed) = try runBounded(
                ["ha", command, "--log", dir.file("log"), "--timeout-ms", "500"], limit: 20)
            assertFailure(result, mentions: "the agent at \(agent.path) did not answer within 0.5 s")
            XCTAssertLessThan(elapsed, 10)
        }
        let (result, _) = try runBounded(["ha", "status", "--log", dir.file("log")], limit: 20)
        assertFailure(result, mentions: "did not answer within 5 s")
    }

    func testAnAgentThatAnswersIsStillRead() throws {
        let dir = TemporaryDirectory()
        XCTAssertThrowsError(try AgentControl.send("status", socket: dir.file("none.sock"))) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .notFound)
        }
    }
}
