import Foundation

/// A one-member etcd cluster for a test: Debian's `etcd` (package
/// etcd-server, installed by tools/setup) on free loopback ports, its data
/// in a temporary directory; stopped (SIGKILL) and removed when released.
public final class EtcdMember {
    /// The client port on 127.0.0.1.
    public let clientPort: Int
    /// `127.0.0.1:PORT`.
    public var endpoint: String { "127.0.0.1:\(clientPort)" }
    private let process: Process
    private let directory: TemporaryDirectory

    /// Why no member can start here, or nil when `etcd` is installed.
    public static var unavailable: String? {
        FileManager.default.isExecutableFile(atPath: binary)
            ? nil : "\(binary) is missing: install etcd-server (tools/setup replication)"
    }

    private static let binary = "/usr/bin/etcd"

    /// Starts a member and waits (up to 20 s) until it answers.
    public init() throws {
        if let why = Self.unavailable { throw EtcdMemberError(why) }
        directory = TemporaryDirectory()
        let client = try Loopback.freePort()
        let peer = try Loopback.freePort()
        clientPort = client
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--name", "test", "--data-dir", directory.file("data"),
            "--listen-client-urls", "http://127.0.0.1:\(client)",
            "--advertise-client-urls", "http://127.0.0.1:\(client)",
            "--listen-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-cluster", "test=http://127.0.0.1:\(peer)",
            // Quick elections: a lease's minimum TTL follows the election timeout.
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        let log = FileHandle(forWritingAtPath: directory.makeFile("etcd.log", size: 0))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if answers() { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        stop()
        let tail =
            (try? String(contentsOfFile: directory.file("etcd.log"), encoding: .utf8))?.suffix(600) ?? ""
        throw EtcdMemberError("etcd did not start on port \(client): \(tail)")
    }

    deinit { stop() }

    /// Kills the member (as a machine failure would).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Whether `GET /version` answers.
    private func answers() -> Bool {
        Loopback.get("/version", port: clientPort)?.contains("etcdserver") ?? false
    }
}

/// Why a test's etcd member could not start.
public struct EtcdMemberError: Error, CustomStringConvertible {
    /// The reason.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
