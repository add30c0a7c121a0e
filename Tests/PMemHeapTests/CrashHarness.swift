import Foundation
import TestSupport
import XCTest

/// Runs the crash-test child (`heap-crash-child`) and `pmemctl`, built next
/// to the test bundle, and kills them as the tests ask.
struct CrashHarness {
    /// How a child ended.
    struct Outcome {
        var status: Int32
        var killed: Bool
        var stdout: String
        var stderr: String
    }

    let directory: String
    let child: String
    let pmemctl: String

    /// Finds the binaries; fails the test when they were not built.
    init(directory: String) throws {
        self.directory = directory
        let products = CLI.productsDirectory.path
        child = products + "/heap-crash-child"
        pmemctl = products + "/pmemctl"
        for binary in [child, pmemctl] where !FileManager.default.isExecutableFile(atPath: binary) {
            throw XCTSkip("\(binary) is not built; run swift build --build-tests first")
        }
    }

    /// Iterations multiplier: `PMEMKIT_CRASH_LONG=N` runs N times as many kill points.
    static var scale: Int {
        ProcessInfo.processInfo.environment["PMEMKIT_CRASH_LONG"].flatMap { Int($0) }.map { max(1, $0) } ?? 1
    }

    /// Runs `binary arguments` with `environment` added. With `killWhenReady`,
    /// waits for a `ready` line, lets it run that long, then SIGKILLs it.
    func run(
        _ binary: String, _ arguments: [String], environment: [String: String] = [:],
        killWhenReady delay: TimeInterval? = nil
    ) throws -> Outcome {
        let out = directory + "/stdout.txt"
        let err = directory + "/stderr.txt"
        for file in [out, err] where !FileManager.default.createFile(atPath: file, contents: nil) {
            throw CocoaError(.fileWriteUnknown)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in ["PMEMKIT_CRASH_AT", "PMEMKIT_HEAP_RELOCATE", "PMEMKIT_HEAP_BASE"] { env[key] = nil }
        env.merge(environment) { $1 }
        process.environment = env
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        if let delay {
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline
                && !((try? String(contentsOfFile: out, encoding: .utf8))?.contains("ready") ?? false)
            {
                usleep(500)
            }
            usleep(useconds_t(delay * 1_000_000))
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return Outcome(
            status: process.terminationStatus, killed: process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// The last `ack WORKER OPS` of each worker in a child's output.
    static func acknowledged(_ stdout: String, previous: [Int64]) -> [Int64] {
        var acks = previous
        for line in stdout.split(separator: "\n") where line.hasPrefix("ack ") {
            let parts = line.split(separator: " ")
            if parts.count == 3, let worker = Int(parts[1]), let ops = Int64(parts[2]), worker < acks.count {
                acks[worker] = max(acks[worker], ops)
            }
        }
        return acks
    }

    /// The committed operation counts a verify run reports (`ops=A,B`).
    static func committed(_ stdout: String) -> [Int64]? {
        guard let range = stdout.range(of: "ops=") else { return nil }
        let values = stdout[range.upperBound...].prefix { $0 != "\n" && $0 != " " }.split(separator: ",")
        let ops = values.compactMap { Int64($0) }
        return ops.count == 2 ? ops : nil
    }
}
