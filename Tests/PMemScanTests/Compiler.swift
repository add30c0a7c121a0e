import Foundation
import TestSupport
import XCTest

/// The system C compiler (`cc` on PATH), for tests that compile what the analyzer emits.
enum Compiler {
    /// Runs `cc` with `arguments`; skips the test when there is no `cc` on PATH.
    static func run(_ arguments: [String], executable: String = "cc") throws -> CLIResult {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(executable)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw XCTSkip("no \(executable) on PATH to compile the emitted header with") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        // Only stderr is read (to its end before waiting: many errors would fill the
        // pipe); the compiler has nothing to say on stdout with -fsyntax-only.
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIResult(
            status: process.terminationStatus, stdout: "", stderr: String(decoding: stderr, as: UTF8.self))
    }
}
