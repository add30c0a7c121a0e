import Foundation
import XCTest

/// What a run of a built executable printed, and how it exited.
public struct CLIResult {
    /// Exit status.
    public var status: Int32
    /// Everything on stdout.
    public var stdout: String
    /// Everything on stderr.
    public var stderr: String
}

/// Runs the package's built executables (`pmemctl`) from tests.
public enum CLI {
    /// The build products directory (where the test bundle and the executables live).
    public static var productsDirectory: URL { Bundle.main.bundleURL }

    /// Runs `pmemctl` with `arguments` and `environment` additions; with a
    /// `timeout`, a run still going after that many seconds is killed.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: Double? = nil
    ) throws -> CLIResult {
        try run(executable: "pmemctl", arguments, environment: environment, timeout: timeout)
    }

    /// Runs the built `executable` with `arguments` and `environment` additions;
    /// with a `timeout`, a run still going after that many seconds is killed
    /// (its status is then 128 + SIGKILL and stderr says so), so a test of
    /// something that must not hang fails instead of hanging.
    public static func run(
        executable: String, _ arguments: [String], environment: [String: String] = [:],
        timeout: Double? = nil
    ) throws -> CLIResult {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let killer = timeout.map { seconds in
            let pid = process.processIdentifier
            let item = DispatchWorkItem { kill(pid, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
            return item
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer?.cancel()
        let killed = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
        return CLIResult(
            status: killed ? 128 + SIGKILL : process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
                + (killed ? "(killed after \(timeout ?? 0) s: it hung)\n" : ""))
    }
}

extension XCTestCase {
    /// Asserts a usage error: exit 2 and exactly one line on stderr naming `text`.
    public func assertUsageError(
        _ r: CLIResult, mentions text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(r.status, 2, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
    }

    /// Asserts a failed operation: exit 1 and exactly one line on stderr naming `text`.
    public func assertFailure(
        _ r: CLIResult, mentions text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
    }
}
