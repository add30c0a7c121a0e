import Foundation
import PMemReplication
import TestSupport
import XCTest

/// Hosts of the test's own: network namespaces joined by veth pairs (a
/// primary and replicas), made by the test and removed after it. The links
/// from the primary are rate-limited with tbf so replicas lag under load.
final class TestHosts {
    let names: [String: String]
    private let ip: String
    private(set) var created: [String] = []

    /// `ip` and `tc` from iproute2, or nil.
    static func tool(_ name: String) -> String? {
        ["/usr/sbin/\(name)", "/sbin/\(name)", "/usr/bin/\(name)", "/bin/\(name)"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    init(hosts: [String], ip: String) {
        self.ip = ip
        let tag = getpid() % 100_000
        names = Dictionary(uniqueKeysWithValues: hosts.map { ($0, "pmk\(tag)\($0)") })
    }

    /// Runs a command; throws with its output when it fails.
    private func run(_ arguments: [String]) throws {
        let (status, output) = try ProcessCluster.shell(arguments)
        guard status == 0 else { throw ProtocolError("\(arguments.joined(separator: " ")): \(output)") }
    }

    /// The prefix that runs a command on `host`.
    func prefix(_ host: String) -> [String] { [ip, "netns", "exec", names[host]!] }

    /// Makes every namespace, then one link from `from` to each of `to` on
    /// its own /24 of the benchmarking range 198.18.0.0/15 (`.1` on the
    /// primary's side, `.2` on the replica's), rate-limited from the primary.
    func build(from primary: String, to replicas: [String], rate: String) throws -> [String: String] {
        for (_, name) in names.sorted(by: { $0.key < $1.key }) {
            try run([ip, "netns", "add", name])
            created.append(name)
            try run([ip, "-n", name, "link", "set", "lo", "up"])
        }
        let tag = getpid() % 100_000
        var addresses: [String: String] = [:]
        for (i, replica) in replicas.enumerated() {
            let near = "pk\(tag)a\(i)"
            let far = "pk\(tag)b\(i)"
            try run([ip, "link", "add", near, "type", "veth", "peer", "name", far])
            try run([ip, "link", "set", near, "netns", names[primary]!])
            try run([ip, "link", "set", far, "netns", names[replica]!])
            try run([ip, "-n", names[primary]!, "addr", "add", "198.18.\(i + 1).1/24", "dev", near])
            try run([ip, "-n", names[replica]!, "addr", "add", "198.18.\(i + 1).2/24", "dev", far])
            try run([ip, "-n", names[primary]!, "link", "set", near, "up"])
            try run([ip, "-n", names[replica]!, "link", "set", far, "up"])
            if let tc = Self.tool("tc") {
                try run(
                    prefix(primary) + [
                        tc, "qdisc", "add", "dev", near, "root", "tbf", "rate", rate, "burst", "64kb",
                        "latency", "400ms",
                    ])
            }
            addresses[replica] = "198.18.\(i + 1).2"
        }
        return addresses
    }

    /// Removes every namespace made (their veth ends go with them).
    func remove() {
        for name in created { _ = try? ProcessCluster.shell([ip, "netns", "del", name]) }
        created.removeAll()
    }
}

final class NetworkNamespaceTests: XCTestCase {
    func testAcrossHostsAKilledApplicationIsDrainedThroughRateLimitedLinks() throws {
        guard getuid() == 0 else {
            print("NetworkNamespaceTests: skipped, creating network namespaces needs root (uid \(getuid()))")
            throw XCTSkip("creating network namespaces needs root")
        }
        guard let ip = TestHosts.tool("ip") else {
            print("NetworkNamespaceTests: skipped, iproute2 is not installed (tools/setup installs it)")
            throw XCTSkip("iproute2 is not installed")
        }
        let hosts = TestHosts(hosts: ["p", "r1", "r2"], ip: ip)
        defer { hosts.remove() }
        let addresses = try hosts.build(from: "p", to: ["r1", "r2"], rate: "80mbit")
        let cluster = try ProcessCluster()
        let replicas = try ["r1", "r2"].map {
            try cluster.startReplica($0, host: addresses[$0]!, port: 7400, prefix: hosts.prefix($0))
        }
        let app = try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "0", cluster.progress], label: "app",
            prefix: hosts.prefix("p"))
        try cluster.waitUntil("the application attached", timeout: 20) {
            cluster.output("app").contains("ready")
        }
        var arguments = [
            "ha", "agent", "--log", cluster.log, "--key-file", cluster.keyFile, "--battery-ms", "30000",
            "--json",
            "--watch-pid", "\(app.processIdentifier)",
        ]
        for replica in replicas { arguments += ["--replica", replica.description] }
        let agent = try cluster.launch("pmemctl", arguments, label: "agent", prefix: hosts.prefix("p"))
        try cluster.waitUntil("both replicas follow across the links", timeout: 60) {
            try cluster.state("r1").lastTransaction > 2000 && cluster.state("r2").lastTransaction > 2000
        }
        usleep(500_000)
        ProcessCluster.killHard(app)
        let returned = cluster.progressValue()
        let lagging = try cluster.state("r1").lastTransaction
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 0, cluster.errors("agent"))
        let drain = try JSONDecoder().decode(DrainReport.self, from: Data(cluster.output("agent").utf8))
        XCTAssertTrue(drain.complete)
        print(
            "NetworkNamespaceTests: r1 was at transaction \(lagging) when the application died at \(returned); "
                + "drained in \(drain.elapsedMs) ms")
        for process in cluster.started { ProcessCluster.killHard(process) }
        for name in ["r1", "r2"] {
            XCTAssertGreaterThanOrEqual(try cluster.promoteAndVerify(name), returned)
        }
    }
}
