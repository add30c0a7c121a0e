import Foundation
import PMemKit
import PMemReplication

/// How `failover-auto` fails the primary's machine.
enum MachineFailure: String, CaseIterable {
    /// Every process of the machine killed (SIGKILL); the node is started again as a replica after.
    case kill
    /// Every process frozen (SIGSTOP), thawed (SIGCONT) after the failover: a stale primary returns.
    case freeze
    /// Its links cut (its switch port down), restored after the failover (namespaces only).
    case cut
}

/// A replica set for `failover-auto`: an etcd member and three
/// `pmemctl ha node` processes (a first primary, two replicas), each on a
/// host of its own (`BenchHosts`) when this process may make namespaces,
/// else on loopback. The application is `repl-workload`, which stamps every
/// commit with the epoch it was admitted at and its writer.
final class FailoverCluster {
    static let names = ["a", "b", "c"]
    let directory: String
    let ttlSeconds: Int
    let hosts: BenchHosts?
    private let binaries: String
    private let keyFile: String
    private var etcd: Process?
    private var etcdEndpoint = ""
    private var listen: [String: String] = [:]
    private var nodes: [String: Process] = [:]
    private var frozen: [String: [pid_t]] = [:]

    /// Starts etcd and the three nodes; `a` starts as primary.
    init(directory: String, ttlSeconds: Int) throws {
        self.directory = directory
        self.ttlSeconds = ttlSeconds
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        hosts = try BenchHosts(hosts: ["etcd"] + Self.names)
        binaries =
            URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
            .deletingLastPathComponent().path
        keyFile = "\(directory)/key"
        try PreSharedKey.generateHex().write(toFile: keyFile, atomically: true, encoding: .utf8)
        do {
            try startEtcd()
            for name in Self.names {
                listen[name] =
                    "\(hosts?.addresses[name] ?? "127.0.0.1"):\(hosts == nil ? try Self.freePort() : 7400)"
            }
            for name in Self.names { try startNode(name, asPrimary: name == "a") }
        } catch {
            shutdown()
            throw error
        }
    }

    deinit { shutdown() }

    // MARK: Processes

    private func launch(
        _ arguments: [String], on host: String, output: String, environment: [String: String] = [:]
    )
        throws -> Process
    {
        let process = Process()
        let command = (hosts?.prefix(host) ?? []) + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        for (path, set) in [(output + ".out", true), (output + ".err", false)] {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            if set { process.standardOutput = handle } else { process.standardError = handle }
        }
        try process.run()
        return process
    }

    private func startEtcd() throws {
        let host = hosts?.addresses["etcd"] ?? "127.0.0.1"
        let client = hosts == nil ? try Self.freePort() : 2379
        let peer = hosts == nil ? try Self.freePort() : 2380
        etcdEndpoint = "\(host):\(client)"
        let log = "\(directory)/etcd"
        etcd = try launch(
            [
                "/usr/bin/etcd", "--name", "bench", "--data-dir", "\(directory)/etcd.data",
                "--listen-client-urls", "http://\(host):\(client)", "--advertise-client-urls",
                "http://\(host):\(client)", "--listen-peer-urls", "http://\(host):\(peer)",
                "--initial-advertise-peer-urls", "http://\(host):\(peer)", "--initial-cluster",
                "bench=http://\(host):\(peer)", "--heartbeat-interval", "50", "--election-timeout", "500",
            ], on: "etcd", output: log)
        try wait("etcd serves clients", timeout: 30) {
            guard etcd?.isRunning == true else {
                throw PMemError(
                    .system, operation: "bench", detail: "etcd exited: \(Self.tail(log + ".err"))")
            }
            return Self.tail(log + ".err").contains("ready to serve client requests")
        }
    }

    /// Starts (or starts again) a node.
    func startNode(_ name: String, asPrimary: Bool) throws {
        let peers = Self.names.filter { $0 != name }.flatMap { ["--peer", listen[$0]!] }
        let application =
            "exec \(binaries)/repl-workload run \"$PMEMKIT_POOL\" \"$PMEMKIT_LOG\" 0 \(progressPath(name))"
        nodes[name] = try launch(
            [
                "\(binaries)/pmemctl", "ha", "node", "--etcd", etcdEndpoint, "--node", name, "--etcd-prefix",
                "/pmem-bench", "--lease-ttl", "\(ttlSeconds)", "--key-file", keyFile, "--store",
                storePath(name),
                "--listen", listen[name]!, "--pool", "\(directory)/\(name).pool", "--log", logPath(name),
                "--run",
                application, "--start", asPrimary ? "primary" : "replica", "--json",
            ] + peers, on: name, output: "\(directory)/\(name)",
            environment: [
                "REPL_LEADERSHIP": "wait:3600", "REPL_WRITER": "\(Self.names.firstIndex(of: name)! + 1)",
                "REPL_PAUSE_US": "200", "REPL_LOG_CAPACITY": "64M", "PMEMKIT_LOG_LEVEL": "error",
            ])
    }

    /// Fails `name`'s machine.
    func fail(_ name: String, _ failure: MachineFailure) throws {
        switch failure {
        case .kill:
            for pid in processTree(name) { kill(pid, SIGKILL) }
            nodes[name]?.waitUntilExit()
        case .freeze:
            let tree = processTree(name)
            frozen[name] = tree
            for pid in tree { kill(pid, SIGSTOP) }
        case .cut:
            try hosts!.setLinks(of: name, up: false)
        }
    }

    /// Brings `name`'s machine back: started again as a replica, thawed, or reconnected.
    func repair(_ name: String, _ failure: MachineFailure) throws {
        switch failure {
        case .kill: try startNode(name, asPrimary: false)
        case .freeze: for pid in frozen.removeValue(forKey: name) ?? [] { kill(pid, SIGCONT) }
        case .cut: try hosts!.setLinks(of: name, up: true)
        }
    }

    /// The node's process and its descendants (the application).
    private func processTree(_ name: String) -> [pid_t] {
        guard let root = nodes[name]?.processIdentifier else { return [] }
        var parents: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { continue }
            // "PID (COMM) STATE PPID ...": the command may hold spaces, so count after its ')'.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { parents[pid] = parent }
        }
        var tree = [root]
        var next = 0
        while next < tree.count {
            tree += parents.filter { $0.value == tree[next] }.map(\.key)
            next += 1
        }
        return tree
    }

    /// Stops every node (replicas first, so none takes over from the
    /// resigning primary) and etcd; removes the namespaces.
    func shutdown() {
        for (name, _) in frozen { try? repair(name, .freeze) }
        let order = nodes.keys.sorted { lastEvent($0) != "primary" && lastEvent($1) == "primary" }
        for name in order {
            guard let node = nodes[name], node.isRunning else { continue }
            kill(node.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while node.isRunning && Date() < deadline { usleep(10_000) }
            for pid in processTree(name) { kill(pid, SIGKILL) }
            node.waitUntilExit()
        }
        nodes.removeAll()
        if let etcd, etcd.isRunning {
            kill(etcd.processIdentifier, SIGKILL)
            etcd.waitUntilExit()
        }
        etcd = nil
        hosts?.remove()
    }

    // MARK: What the nodes say

    func storePath(_ name: String) -> String { "\(directory)/\(name).store" }
    func logPath(_ name: String) -> String { "\(directory)/\(name).log" }
    func poolPath(_ name: String) -> String { "\(directory)/\(name).pool" }
    func progressPath(_ name: String) -> String { "\(directory)/\(name).progress" }

    /// The transitions a node printed (its stdout: one JSON line each).
    func transitions(_ name: String) -> [FailoverNode.Transition] {
        let text = (try? String(contentsOfFile: "\(directory)/\(name).out", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONDecoder().decode(FailoverNode.Transition.self, from: Data($0.utf8))
        }
    }

    func lastEvent(_ name: String) -> String? { transitions(name).last?.event }

    /// The last commit the node's application saw return (0 before its first).
    func progress(_ name: String) -> UInt64 {
        guard let data = FileManager.default.contents(atPath: progressPath(name)), data.count >= 8 else {
            return 0
        }
        return data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// The list length the node's latest application found when it attached
    /// (`repl-workload` prints `ready count=N`, which the node passes to its stderr).
    func listLengthAtStart(_ name: String) -> UInt64 {
        let text = (try? String(contentsOfFile: "\(directory)/\(name).err", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").last { $0.hasPrefix("ready count=") }
        return line.flatMap { UInt64($0.dropFirst("ready count=".count)) } ?? 0
    }

    /// Forgets an earlier term's progress, so the next commit seen is a new term's.
    func clearProgress(_ name: String) { unlink(progressPath(name)) }

    /// A store's state, read while it is served.
    func state(_ name: String) throws -> ReplicaState {
        try ReplicaStore.readState(directory: storePath(name))
    }

    /// Polls `condition` every 5 ms; throws after `timeout` seconds, naming
    /// `what` and where every node stood.
    func wait(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else {
                throw PMemError(
                    .system, operation: "failover-auto",
                    detail: "timed out waiting until \(what); \(standing())")
            }
            usleep(5_000)
        }
    }

    /// Each node's last transition, store and application progress, and its last error line.
    func standing() -> String {
        Self.names.map { name in
            let store = (try? state(name)).map {
                "store epoch \($0.epoch) transaction \($0.lastTransaction)\($0.inBaseline ? " (baseline)" : "")"
            }
            let last = transitions(name).last.map { "\($0.event) at epoch \($0.epoch)" } ?? "no transition"
            let error = Self.tail("\(directory)/\(name).err").split(separator: "\n").last.map {
                "; stderr: \($0)"
            }
            return "\(name): \(last), \(store ?? "no store"), progress \(progress(name))\(error ?? "")"
        }.joined(separator: " | ")
    }

    private static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(2000))
    }

    /// A TCP port free on loopback now.
    private static func freePort() throws -> Int {
        let (fd, address) = try boundLoopbackSocket()
        close(fd)
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
