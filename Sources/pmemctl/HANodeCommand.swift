import ArgumentParser
import Dispatch
import Foundation
import Logging
import PMemKit
import PMemReplication

extension HACommand {
    /// `pmemctl ha node`: a member of a replica set that fails over by itself.
    struct Node: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a member of a replica set: a replica that takes over when the primary is gone.",
            discussion: """
                As a replica the node serves --store on --listen and watches the leader key in etcd. When \
                the leader's lease expires, the member holding the most wins the key at a new epoch, moves \
                an earlier term's pool and log aside (PATH.before-epoch-N, the newest --keep-aside kept), promotes its copy to --pool, runs \
                --run (sh -c, with PMEMKIT_POOL, PMEMKIT_LOG, PMEMKIT_EPOCH and PMEMKIT_NODE set; it should \
                exec the application, which attaches a Replicator that requires leadership), and ships its \
                log to every --peer. A primary whose term ends stops the application and rejoins as a \
                replica (--after-primary stop: exits). Prints one line per transition on stdout (--json: JSON \
                lines); the application's output goes to stderr. \
                SIGTERM or SIGINT stops the node (a primary resigns).
                """)

        @OptionGroup var coordination: EtcdOptions

        @Option(help: "This node's replica store directory (created when absent).")
        var store: String

        @Option(help: "Where this node serves as a replica, HOST:PORT (the address its peers ship to).")
        var listen: String

        @Option(help: "Another member's replica address, HOST:PORT (repeat for each).")
        var peer: [String] = []

        @Option(help: "File holding the pre-shared key in hexadecimal.")
        var keyFile: String

        @Option(help: "The application's pool while this node is primary.")
        var pool: String

        @Option(help: "The application's replication log while this node is primary.")
        var log: String

        @Option(name: .customLong("run"), help: "The application command (sh -c).")
        var application: String

        @Option(help: ArgumentHelp("How the node starts.", valueName: "replica|primary"))
        var start = "replica"

        @Option(
            help: ArgumentHelp("What a node that stopped being primary does.", valueName: "rejoin|stop"))
        var afterPrimary = "rejoin"

        @Option(help: "Earlier terms' pools and logs kept aside as PATH.before-epoch-N (0 to 1000).")
        var keepAside = 1

        @Option(help: "Peers that must acknowledge a record while this node is primary (default: all).")
        var quorum: Int?

        @Option(help: "Time a drain may take while this node is primary, in milliseconds.")
        var batteryMs: Int = 2000

        @Option(
            help:
                "Serve Prometheus metrics on HOST:PORT in every role (the agent's too while this node is primary)."
        )
        var metricsListen: String?

        @Flag(help: "Print transitions as JSON lines.")
        var json = false

        func validate() throws {
            guard !coordination.etcd.isEmpty else { throw ValidationError("give --etcd HOST:PORT") }
            guard !peer.isEmpty else { throw ValidationError("give at least one --peer HOST:PORT") }
            _ = try parseEndpoint(listen, "--listen")
            for text in peer {
                try requireRange(try parseEndpoint(text, "--peer").port, NumericRange.port, "--peer's port")
            }
            guard ["replica", "primary"].contains(start) else {
                throw ValidationError("--start must be replica or primary, not '\(start)'")
            }
            guard FailoverNode.Configuration.AfterPrimary(rawValue: afterPrimary) != nil else {
                throw ValidationError("--after-primary must be rejoin or stop, not '\(afterPrimary)'")
            }
            try requireRange(batteryMs, NumericRange.batteryMs, "--battery-ms")
            try requireRange(keepAside, 0...1000, "--keep-aside")
            if let quorum, !(1...peer.count).contains(quorum) {
                throw ValidationError("--quorum must be between 1 and the number of peers (\(peer.count))")
            }
            if let metricsListen { _ = try parseEndpoint(metricsListen, "--metrics-listen") }
        }

        func run() throws {
            try reportingFailures {
                var configuration = FailoverNode.Configuration(
                    leadership: try coordination.leadership()!, storeDirectory: store,
                    listen: try Endpoint(parsing: listen), peers: try peer.map(Endpoint.init(parsing:)),
                    psk: try PreSharedKey(file: keyFile), poolPath: pool, logPath: log,
                    application: application)
                configuration.startAsPrimary = start == "primary"
                configuration.afterPrimary = .init(rawValue: afterPrimary)!
                configuration.quorum = quorum
                configuration.batteryMilliseconds = batteryMs
                configuration.keepAside = keepAside
                configuration.metricsEndpoint = try metricsListen.map(Endpoint.init(parsing:))
                let json = json
                let node = try FailoverNode(
                    configuration: configuration, logger: Logger(label: "pmemkit.ha.node")
                ) {
                    transition in
                    if json {
                        try? Output.jsonLine(transition)
                    } else {
                        let line =
                            "\(transition.time) \(transition.event) (\(transition.role.rawValue), epoch "
                            + "\(transition.epoch)): \(transition.detail)\n"
                        FileHandle.standardOutput.write(Data(line.utf8))
                    }
                }
                let signals = [SIGTERM, SIGINT].map { number in
                    signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                    source.setEventHandler { node.stop() }
                    source.resume()
                    return source
                }
                defer { for source in signals { source.cancel() } }
                try node.run()
            }
        }
    }
}

extension HACommand {
    /// `pmemctl ha node-status --store DIR [--json]`.
    struct NodeStatusCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "node-status",
            abstract: "Show a failover node's role, epoch and last transitions (from STORE.node.json).")

        @Option(help: "The node's store directory (its --store).")
        var store: String

        @Flag(help: "Print as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                let status = try NodeStatus.read(store: store)
                if json { return try Output.json(status) }
                print(
                    "node \(status.node) (pid \(status.pid)): \(status.role.rawValue), epoch \(status.epoch)")
                Output.table(
                    [["time", "event", "epoch", "detail"]]
                        + status.transitions.map { [$0.time, $0.event, "\($0.epoch)", $0.detail] })
            }
        }
    }
}
