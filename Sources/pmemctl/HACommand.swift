import ArgumentParser
import Foundation
import Logging
import PMemKit
import PMemReplication

/// `pmemctl ha`: the HA agent that ships a replicated heap's log, and its controls.
struct HACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ha",
        abstract: "Ship a replicated heap's log to replicas; drain it on failure (PMemReplication).",
        subcommands: [
            Agent.self, Node.self, NodeStatusCommand.self, Status.self, PowerFail.self, Metrics.self,
        ])

    /// `pmemctl ha agent --log PATH --replica HOST:PORT ... [--watch-pid PID] [--battery-ms N]`.
    struct Agent: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the HA agent for a log (until a drain ends or SIGTERM).",
            discussion: """
                When the watched process ends (any signal, SIGKILL included), on SIGPWR, or on \
                'pmemctl ha power-fail', the agent ships every record each replica lacks within the \
                battery deadline, prints what reached whom, and exits: 0 when every replica has every \
                record, 1 otherwise.
                """)

        @Option(help: "The application's replication log.")
        var log: String

        @Option(help: "A replica, HOST:PORT (repeat for several).")
        var replica: [String] = []

        @Option(help: "File holding the pre-shared key in hexadecimal.")
        var keyFile: String

        @Option(help: "Process to watch: when it ends, drain.")
        var watchPid: Int32?

        @Option(help: "Time a drain may take, in milliseconds (the battery's hold-up time; 1 to 86400000).")
        var batteryMs: Int = 2000

        @Option(help: "Replicas that must acknowledge a record before its space is reclaimed (default: all).")
        var quorum: Int?

        @Option(help: "Serve Prometheus metrics on HOST:PORT (GET /metrics).")
        var metricsListen: String?

        @Option(help: "Control socket (default: the log's path + .sock).")
        var control: String?

        @Flag(
            help:
                "Drain when every mains power supply in /sys/class/power_supply reports offline (on battery)."
        )
        var watchPower = false

        @Option(
            help: ArgumentHelp("The power supply class to watch (implies --watch-power).", valueName: "DIR"))
        var powerSupplyRoot: String?

        @OptionGroup var coordination: EtcdOptions

        @Option(
            help: ArgumentHelp(
                "When leadership is lost (with --etcd): stop, or campaign to lead again if no other node led.",
                valueName: "stop|campaign"))
        var whenLost = "stop"

        @Flag(help: "Print the drain report as JSON.")
        var json = false

        func validate() throws {
            guard !replica.isEmpty else { throw ValidationError("give at least one --replica HOST:PORT") }
            guard HAAgent.Configuration.WhenLost(rawValue: whenLost) != nil else {
                throw ValidationError("--when-lost must be stop or campaign, not '\(whenLost)'")
            }
            if coordination.etcd.isEmpty && (coordination.node != nil || whenLost != "stop") {
                throw ValidationError("--node and --when-lost need --etcd")
            }
            for text in replica {
                try requireRange(
                    try parseEndpoint(text, "--replica").port, NumericRange.port, "--replica's port")
            }
            if let metricsListen { _ = try parseEndpoint(metricsListen, "--metrics-listen") }
            try requireRange(batteryMs, NumericRange.batteryMs, "--battery-ms")
            if let watchPid { try requireRange(watchPid, NumericRange.pid, "--watch-pid") }
            if let quorum, !(1...replica.count).contains(quorum) {
                throw ValidationError(
                    "--quorum must be between 1 and the number of replicas (\(replica.count))")
            }
        }

        func run() throws {
            try reportingFailures {
                var configuration = HAAgent.Configuration(
                    logPath: log, replicas: try replica.map(Endpoint.init(parsing:)),
                    psk: try PreSharedKey(file: keyFile),
                    watchPID: watchPid, batteryMilliseconds: batteryMs, quorum: quorum,
                    controlSocket: control,
                    metricsEndpoint: try metricsListen.map(Endpoint.init(parsing:)))
                if watchPower || powerSupplyRoot != nil {
                    configuration.powerSupplyRoot = powerSupplyRoot ?? "/sys/class/power_supply"
                }
                if let leadership = try coordination.leadership() {
                    configuration.coordination = .init(
                        leadership: leadership, whenLost: HAAgent.Configuration.WhenLost(rawValue: whenLost)!)
                }
                let agent = try HAAgent(configuration: configuration, logger: Logger(label: "pmemkit.ha"))
                guard let report = try agent.run() else { return }
                if json {
                    try Output.json(report)
                } else {
                    print(
                        "drain (\(report.reason)): \(String(format: "%.1f", report.elapsedMs)) ms of \(report.deadlineMs), "
                            + "replicas are to hold the log through sequence \(report.lastSequence) "
                            + "(transaction \(report.lastTransaction))"
                            + (report.withheldRecords > 0
                                ? "; \(report.withheldRecords) later records hold transactions the pool does not"
                                : ""))
                    Output.table(
                        [["replica", "state", "acked", "missing records", "complete"]]
                            + report.replicas.map {
                                [
                                    $0.address, $0.state, $0.ackedSequence.map(String.init) ?? "-",
                                    "\($0.lagRecords)",
                                    $0.lagRecords == 0 ? "yes" : "no",
                                ]
                            })
                }
                guard report.complete else {
                    let missing = report.replicas.filter { $0.lagRecords > 0 }.map(\.address)
                    throw PMemError(
                        .system, operation: "ha drain",
                        detail:
                            "incomplete: \(missing.joined(separator: ", ")) lack records after \(report.deadlineMs) ms"
                    )
                }
            }
        }
    }

    /// Options naming the agent to talk to.
    struct AgentLocation: ParsableArguments {
        @Option(help: "The replication log the agent serves.")
        var log: String

        @Option(help: "Control socket (default: the log's path + .sock).")
        var control: String?

        @Option(help: "How long to wait for the agent's answer, in milliseconds (1 to 600000).")
        var timeoutMs: Int = 5000

        var socket: String { control ?? AgentControl.socketPath(forLog: log) }

        /// How long to wait for the agent.
        var timeout: Duration { .milliseconds(timeoutMs) }

        func validate() throws {
            try requireRange(timeoutMs, NumericRange.controlTimeoutMs, "--timeout-ms")
        }
    }

    /// `pmemctl ha status --log PATH [--json]`.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each replica's acknowledged sequence and lag (records, bytes, time).")

        @OptionGroup var agent: AgentLocation

        @Flag(help: "Print as JSON.")
        var json = false

        func run() throws {
            try reportingFailures {
                let reply = try AgentControl.send("status", socket: agent.socket, timeout: agent.timeout)
                guard let status = try? JSONDecoder().decode(AgentStatus.self, from: Data(reply.utf8)) else {
                    throw PMemError(
                        .system, operation: "ha status", detail: "the agent answered: \(reply.prefix(200))")
                }
                if json { return try Output.json(status) }
                print(
                    "log \(status.log): sequences \(status.headSequence)...\(status.lastSequence), "
                        + "\(ByteSize.format(status.usedBytes)) of \(ByteSize.format(UInt64(status.capacity))) in use, "
                        + "agent \(status.state) (pid \(status.pid)), quorum \(status.quorum)")
                if let leadership = status.leadership {
                    print(
                        "node \(leadership.node): "
                            + (leadership.leading
                                ? "leading at epoch \(leadership.epoch), lease sure for "
                                    + String(format: "%.0f ms", leadership.leaseMsLeft)
                                : "not leading (last epoch \(leadership.epoch))")
                            + (leadership.transitions.last.map { "; last: \($0.event): \($0.detail)" } ?? ""))
                }
                Output.table(
                    [["replica", "state", "acked", "lag records", "lag bytes", "lag ms"]]
                        + status.replicas.map {
                            [
                                $0.address, $0.state, $0.ackedSequence.map(String.init) ?? "-",
                                "\($0.lagRecords)",
                                "\($0.lagBytes)", String(format: "%.1f", $0.lagMs),
                            ]
                        })
            }
        }
    }

    /// `pmemctl ha power-fail --log PATH`.
    struct PowerFail: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "power-fail", abstract: "Tell the agent power is failing: it drains the log now.",
            discussion: """
                For UPS daemons: NUT's upsmon can run it on ONBATT through NOTIFYCMD (docs/REPLICATION.md). \
                The reason (printable text, 200 bytes at most) goes into the drain report.
                """)

        @OptionGroup var agent: AgentLocation

        @Option(help: "Who or what reports the failure, for the drain report (one line).")
        var reason: String?

        func validate() throws {
            if let reason, reason.isEmpty || reason.utf8.count > 200 || reason.contains(where: \.isNewline) {
                throw ValidationError("--reason must be 1 to 200 bytes on one line")
            }
        }

        func run() throws {
            try reportingFailures {
                let command = reason.map { "power-fail \($0)" } ?? "power-fail"
                let reply = try AgentControl.send(command, socket: agent.socket, timeout: agent.timeout)
                print(reply.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
    }

    /// `pmemctl ha metrics --log PATH`.
    struct Metrics: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the agent's metrics (Prometheus text format).")

        @OptionGroup var agent: AgentLocation

        func run() throws {
            try reportingFailures {
                print(
                    try AgentControl.send("metrics", socket: agent.socket, timeout: agent.timeout),
                    terminator: "")
            }
        }
    }
}
