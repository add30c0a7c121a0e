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

    /// A result, for tests that run a process their own way.
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs the package's built executables (`pmemctl`) from tests.
public enum CLI {
    /// The build products directory (where the test bundle and the executables live).
    public static var productsDirectory: URL { Bundle.main.bundleURL }

    /// Runs `pmemctl` with `arguments` and `environment` additions.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIResult {
        try run(executable: "pmemctl", arguments, environment: environment)
    }

    /// Runs the built `executable` with `arguments` and `environment` additions.
    public static func run(
        executable: String, _ arguments: [String], environment: [String: String] = [:]
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
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIResult(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
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
