import Foundation
import PMemReplication
import TestSupport
import XCTest

/// The campaign's processes: replicas restarted on their port, the agent
/// started and drained, the application run, and how each one ended.
extension CrashCampaign {
    /// A replica the campaign runs and restarts (on the same port, as the agent knows it).
    final class Replica {
        let name: String
        var port = 0
        var process: Process?

        init(_ name: String) { self.name = name }

        var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }
    }

    /// Starts `replica` (`pmemctl replica serve`) with `environment` added;
    /// true once it listens, false when it died first (a crash point in
    /// opening its store: the journal's replay).
    @discardableResult
    func start(_ replica: Replica, environment: [String: String] = [:]) throws -> Bool {
        let process = try cluster.launch(
            "pmemctl",
            [
                "replica", "serve", "--store", cluster.store(replica.name), "--listen",
                "127.0.0.1:\(replica.port)", "--key-file", cluster.keyFile,
            ],
            label: replica.name, environment: environment)
        replica.process = process
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let output = cluster.output(replica.name)
            if let line = output.split(separator: "\n").first(where: { $0.contains(" on ") }),
                let address = line.split(separator: " ").last,
                let endpoint = try? Endpoint(parsing: String(address))
            {
                replica.port = endpoint.port
                return true
            }
            if !process.isRunning { return false }
            usleep(2000)
        }
        throw ProtocolError(
            "replica \(replica.name) did not listen within 20 s: \(cluster.errors(replica.name))")
    }

    /// Stops `replica` with SIGKILL (a crash like any other: its store must reopen).
    func stop(_ replica: Replica) {
        if let process = replica.process, process.isRunning { ProcessCluster.killHard(process) }
        replica.process = nil
    }

    /// Starts the agent (`pmemctl ha agent --json`) shipping to `replicas`.
    func startAgent(_ replicas: [Replica], environment: [String: String] = [:], batteryMs: Int = 30_000)
        throws
        -> Process
    {
        var arguments = [
            "ha", "agent", "--log", cluster.log, "--key-file", cluster.keyFile, "--battery-ms",
            "\(batteryMs)",
            "--json",
        ]
        for replica in replicas { arguments += ["--replica", replica.endpoint.description] }
        return try cluster.launch("pmemctl", arguments, label: "agent", environment: environment)
    }

    /// Tells the agent the power failed and waits for its drain: the report,
    /// or `nil` when the agent died first (a crash point in the drain).
    func drain(_ agent: Process) throws -> DrainReport? {
        let deadline = Date().addingTimeInterval(60)
        // The control socket appears once the agent has started.
        while agent.isRunning {
            let answer = try CLI.run(["ha", "power-fail", "--log", cluster.log], timeout: 10)
            if answer.status == 0 { break }
            guard Date() < deadline else { throw ProtocolError("the agent never took the power-fail notice") }
            usleep(10_000)
        }
        guard wait(agent, timeout: max(1, deadline.timeIntervalSinceNow)) else {
            ProcessCluster.killHard(agent)
            violation("the agent's drain did not end within 60 s: \(cluster.errors("agent").suffix(2000))")
            return nil
        }
        if CrashCampaign.killed(agent) { return nil }
        guard agent.terminationStatus == 0 else {
            violation(
                "the drain failed (\(agent.terminationStatus)): \(cluster.errors("agent").suffix(2000))")
            return nil
        }
        return try JSONDecoder().decode(DrainReport.self, from: Data(cluster.output("agent").utf8))
    }

    /// Starts the application (`repl-workload run`), `count` pushes (0: until killed).
    func startApplication(count: Int, environment: [String: String] = [:]) throws -> Process {
        try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "\(count)", cluster.progress], label: "app",
            environment: environment)
    }

    /// Waits until `process` exits, at most `timeout` seconds; whether it did.
    func wait(_ process: Process, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard Date() < deadline else { return false }
            usleep(1000)
        }
        process.waitUntilExit()
        return true
    }

    /// Whether `process` ended by SIGKILL.
    static func killed(_ process: Process) -> Bool {
        !process.isRunning && process.terminationReason == .uncaughtSignal
            && process.terminationStatus == SIGKILL
    }

    /// Runs `process` to its end under `plan`: a timer plan kills it then
    /// (if it still runs). Tallies the kill (its label, or `timer`) and
    /// returns the label; `nil` when it ended by itself (the point was not
    /// reached), a violation when it failed or hung (`timeout`).
    @discardableResult
    func finish(_ process: Process, label: String, plan: Plan, timeout: Double) -> String? {
        if case .timer(let delay) = plan {
            if !wait(process, timeout: delay) { kill(process.processIdentifier, SIGKILL) }
        }
        guard wait(process, timeout: timeout) else {
            ProcessCluster.killHard(process)
            violation("\(label) (\(plan)) hung: \(cluster.errors(label).suffix(2000))")
            return nil
        }
        return outcome(process, label: label, plan: plan)
    }

    /// Tallies how `process` ended: the label it was killed at, `timer`, or
    /// nothing (it ended by itself; a violation unless its status is 0).
    func outcome(_ process: Process, label: String, plan: Plan) -> String? {
        if CrashCampaign.killed(process) {
            let at = CrashCampaign.killedAt(cluster.errors(label)) ?? "timer"
            tally(at)
            return at
        }
        if process.terminationStatus != 0 {
            violation(
                "\(label) (\(plan)) failed (\(process.terminationStatus)): \(cluster.errors(label).suffix(2000))"
            )
        } else if case .calibrate = plan {
        } else {
            tallyUnreached()
        }
        return nil
    }
}
