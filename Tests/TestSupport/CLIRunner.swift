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
    /// something that must not hang fails instead of hanging. Its output is
    /// read until it exits (and at most a second more: a process it started
    /// may hold the pipes open for ever).
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
        let stdout = PipeReader(out)
        let stderr = PipeReader(err)
        var note = ""
        if let timeout {
            let exited = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                process.waitUntilExit()
                exited.signal()
            }
            if exited.wait(timeout: .now() + timeout) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
                note = "(killed after \(timeout) s: it hung)\n"
            }
            for reader in [stdout, stderr] where !reader.finish(within: 1) {
                note += "(its output was still held open by a process it started)\n"
            }
        } else {
            _ = stdout.finish(within: nil)
            _ = stderr.finish(within: nil)
            process.waitUntilExit()
        }
        let killed = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
        return CLIResult(
            status: killed ? 128 + SIGKILL : process.terminationStatus, stdout: stdout.text,
            stderr: stderr.text + note)
    }
}

/// Reads a pipe to its end on a thread of its own.
private final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { data.append(chunk) }
            }
            done.signal()
        }
    }

    /// Waits for the end of the pipe, at most `seconds` (`nil`: for ever); whether it came.
    func finish(within seconds: Double?) -> Bool {
        guard let seconds else {
            done.wait()
            return true
        }
        return done.wait(timeout: .now() + seconds) == .success
    }

    /// What was read so far.
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
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
