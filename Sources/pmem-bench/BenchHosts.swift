import Foundation
import PMemKit

/// Machines of the bench's own for `failover-auto`: one network namespace
/// per host, each joined by a veth pair to a bridge in a switch namespace,
/// on 198.19.0.0/24 (the benchmarking range). A host's link can be cut
/// (its switch port down) and restored. Made by root only; removed by
/// `remove()` and at exit.
final class BenchHosts {
    private let ip: String
    private let tag: String
    private let switchName: String
    private var made: [String] = []
    /// Host name → its switch port (the veth end in the switch namespace).
    private var ports: [String: String] = [:]
    /// Host name → its address.
    private(set) var addresses: [String: String] = [:]

    /// `ip` from iproute2, or nil.
    static var ipTool: String? {
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Namespaces for `hosts`, or nil when this process cannot make them
    /// (not root, or no iproute2).
    init?(hosts: [String]) throws {
        guard getuid() == 0, let ip = Self.ipTool else { return nil }
        self.ip = ip
        tag = "pmkb\(getpid() % 100_000)"
        switchName = "\(tag)sw"
        try run([ip, "netns", "add", switchName])
        made.append(switchName)
        try run([ip, "-n", switchName, "link", "add", "br0", "type", "bridge"])
        try run([ip, "-n", switchName, "link", "set", "br0", "up"])
        for (i, host) in hosts.enumerated() {
            let namespace = namespaceName(host)
            try run([ip, "netns", "add", namespace])
            made.append(namespace)
            try run([ip, "-n", namespace, "link", "set", "lo", "up"])
            let port = "\(tag)p\(i)"
            ports[host] = port
            try run([ip, "link", "add", port, "type", "veth", "peer", "name", "\(tag)h\(i)"])
            try run([ip, "link", "set", port, "netns", switchName])
            try run([ip, "link", "set", "\(tag)h\(i)", "netns", namespace])
            try run([ip, "-n", switchName, "link", "set", port, "master", "br0", "up"])
            let address = "198.19.0.\(i + 10)"
            try run([ip, "-n", namespace, "addr", "add", "\(address)/24", "dev", "\(tag)h\(i)"])
            try run([ip, "-n", namespace, "link", "set", "\(tag)h\(i)", "up"])
            addresses[host] = address
        }
    }

    private func namespaceName(_ host: String) -> String { "\(tag)\(host)" }

    /// The command prefix that runs a program on `host`.
    func prefix(_ host: String) -> [String] { [ip, "netns", "exec", namespaceName(host)] }

    /// Cuts every link of `host` (its switch port down), or restores them.
    func setLinks(of host: String, up: Bool) throws {
        try run([ip, "-n", switchName, "link", "set", ports[host]!, up ? "up" : "down"])
    }

    /// Removes every namespace made (their veth ends and the bridge go with them).
    func remove() {
        for name in made.reversed() { _ = try? Self.shell([ip, "netns", "del", name]) }
        made.removeAll()
    }

    deinit { remove() }

    private func run(_ arguments: [String]) throws {
        let (status, output) = try Self.shell(arguments)
        guard status == 0 else {
            remove()
            throw PMemError(
                .system, operation: "bench hosts",
                detail:
                    "\(arguments.joined(separator: " ")): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }

    /// Runs a command to completion; returns its status and output.
    static func shell(_ arguments: [String]) throws -> (Int32, String) {
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
}
