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
        let client = try Self.freePort()
        let peer = try Self.freePort()
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
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopback(port: clientPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { return false }
        let request = Array("GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { return false }
        var reply = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &reply, reply.count, 0)
        return n > 0 && String(decoding: reply[0..<n], as: UTF8.self).contains("etcdserver")
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// A loopback port nobody listens on now.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw EtcdMemberError("no free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Why a test's etcd member could not start.
public struct EtcdMemberError: Error, CustomStringConvertible {
    /// The reason.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
