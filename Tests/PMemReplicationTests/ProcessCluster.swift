import Foundation
import PMemReplication
import TestSupport
import XCTest

/// Real processes for end-to-end tests: replicas (`pmemctl replica serve`),
/// the replicated application (`repl-workload`) and the agent
/// (`pmemctl ha agent`), in a temporary directory, optionally inside network
/// namespaces (a command prefix such as `ip netns exec NAME`).
final class ProcessCluster {
    let directory = TemporaryDirectory()
    let keyFile: String
    private(set) var started: [Process] = []

    init() throws {
        keyFile = directory.file("key")
        try PreSharedKey.generateHex().write(toFile: keyFile, atomically: true, encoding: .utf8)
    }

    deinit {
        for process in started where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var pool: String { directory.file("pool") }
    var log: String { directory.file("log") }
    var progress: String { directory.file("progress") }
    func store(_ name: String) -> String { directory.file(name) }

    /// Starts an executable of the package; stdout and stderr go to files named after `label`.
    @discardableResult
    func launch(
        _ executable: String, _ arguments: [String], label: String, prefix: [String] = [],
        environment: [String: String] = [:]
    ) throws -> Process {
        let process = Process()
        let path = CLI.productsDirectory.appendingPathComponent(executable).path
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + [path] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: directory.file("\(label).out"), contents: nil)
        _ = FileManager.default.createFile(atPath: directory.file("\(label).err"), contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: directory.file("\(label).out"))
        process.standardError = FileHandle(forWritingAtPath: directory.file("\(label).err"))
        try process.run()
        started.append(process)
        return process
    }

    /// What a process printed so far.
    func output(_ label: String) -> String {
        (try? String(contentsOfFile: directory.file("\(label).out"), encoding: .utf8)) ?? ""
    }

    /// What a process printed on stderr so far.
    func errors(_ label: String) -> String {
        (try? String(contentsOfFile: directory.file("\(label).err"), encoding: .utf8)) ?? ""
    }

    /// Starts a replica on `host` (port 0: any free) and returns its address once it listens.
    func startReplica(_ name: String, host: String = "127.0.0.1", port: Int = 0, prefix: [String] = []) throws
        -> Endpoint
    {
        try launch(
            "pmemctl",
            [
                "replica", "serve", "--store", store(name), "--listen", "\(host):\(port)", "--key-file",
                keyFile,
            ],
            label: name, prefix: prefix)
        try waitUntil("replica \(name) listens", timeout: 20) { self.output(name).contains(" on ") }
        let line = output(name).split(separator: "\n").first { $0.contains(" on ") }!
        return try Endpoint(parsing: String(line.split(separator: " ").last!))
    }

    /// The number of the last transaction the application saw return.
    func progressValue() -> UInt64 {
        guard let data = FileManager.default.contents(atPath: progress), data.count >= 8 else { return 0 }
        return data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// Waits (polling) for `condition`; fails with `what` after `timeout` seconds.
    func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw ProtocolError("timed out waiting until \(what)") }
            usleep(20_000)
        }
    }

    /// Runs a command to completion; returns its status and stdout.
    @discardableResult
    static func shell(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Promotes a (stopped) replica's store and checks the pool at a new base
    /// with the workload's own verifier; returns the list length it holds.
    func promoteAndVerify(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> UInt64
    {
        let out = directory.file("\(name).promoted")
        let promote = try CLI.run(["replica", "promote", "--store", store(name), "--out", out])
        XCTAssertEqual(promote.status, 0, promote.stderr, file: file, line: line)
        let verify = try CLI.run(
            executable: "repl-workload", ["verify", out], environment: ["PMEMKIT_HEAP_RELOCATE": "1"])
        XCTAssertEqual(verify.status, 0, verify.stderr, file: file, line: line)
        XCTAssertTrue(verify.stdout.contains("relocated=true"), verify.stdout, file: file, line: line)
        let count = verify.stdout.split(separator: " ").first { $0.hasPrefix("count=") }.flatMap {
            UInt64($0.dropFirst(6))
        }
        return count ?? 0
    }

    /// A replica store's state, read while it may be serving.
    func state(_ name: String) throws -> ReplicaState {
        try ReplicaStore.readState(directory: store(name))
    }

    /// Stops a process with SIGKILL and reaps it.
    static func killHard(_ process: Process) {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
