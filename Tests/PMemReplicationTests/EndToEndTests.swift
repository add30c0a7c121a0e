import Foundation
import PMemReplication
import TestSupport
import XCTest

/// Real processes on loopback: replicas, the replicated application, the agent.
final class EndToEndTests: XCTestCase {
    private func startAgent(
        _ cluster: ProcessCluster, replicas: [Endpoint], watch: Process? = nil, batteryMs: Int = 20_000,
        extra: [String] = [], prefix: [String] = []
    ) throws -> Process {
        var arguments = [
            "ha", "agent", "--log", cluster.log, "--key-file", cluster.keyFile, "--battery-ms",
            "\(batteryMs)", "--json",
        ]
        for replica in replicas { arguments += ["--replica", replica.description] }
        if let watch { arguments += ["--watch-pid", "\(watch.processIdentifier)"] }
        return try cluster.launch("pmemctl", arguments + extra, label: "agent", prefix: prefix)
    }

    private func startApplication(
        _ cluster: ProcessCluster, count: Int = 0, prefix: [String] = [], environment: [String: String] = [:]
    ) throws -> Process {
        let app = try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "\(count)", cluster.progress], label: "app",
            prefix: prefix, environment: environment)
        try cluster.waitUntil("the application attached", timeout: 20) {
            cluster.output("app").contains("ready")
        }
        return app
    }

    private func report(_ cluster: ProcessCluster) throws -> DrainReport {
        try JSONDecoder().decode(DrainReport.self, from: Data(cluster.output("agent").utf8))
    }

    func testAKilledApplicationIsDrainedToEveryReplica() throws {
        let cluster = try ProcessCluster()
        let replicas = [try cluster.startReplica("r1"), try cluster.startReplica("r2")]
        let app = try startApplication(cluster)
        let agent = try startAgent(cluster, replicas: replicas, watch: app)
        try cluster.waitUntil("both replicas follow under load", timeout: 60) {
            try cluster.state("r1").lastTransaction > 3000 && cluster.state("r2").lastTransaction > 3000
        }
        ProcessCluster.killHard(app)
        let returned = cluster.progressValue()
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 0, cluster.errors("agent"))
        let drain = try report(cluster)
        XCTAssertTrue(drain.complete)
        XCTAssertTrue(drain.reason.contains("application exited"), drain.reason)
        for replica in drain.replicas { XCTAssertEqual(replica.ackedSequence, drain.lastSequence) }
        for process in cluster.started { ProcessCluster.killHard(process) }
        let primary = try primaryCount(cluster)
        for name in ["r1", "r2"] {
            let count = try cluster.promoteAndVerify(name)
            XCTAssertGreaterThanOrEqual(
                count, returned, "\(name) holds every transaction whose commit returned")
            XCTAssertEqual(
                count, primary,
                "after a full drain \(name) holds exactly the primary's committed history (a prefix, whole)")
        }
    }

    /// The list length the primary's pool holds (opened, so recovered, as a restart would).
    private func primaryCount(_ cluster: ProcessCluster) throws -> UInt64 {
        let primary = try CLI.run(executable: "repl-workload", ["verify", cluster.pool])
        XCTAssertEqual(primary.status, 0, primary.stderr)
        let count = primary.stdout.split(separator: " ").first { $0.hasPrefix("count=") }.flatMap {
            UInt64($0.dropFirst(6))
        }
        return try XCTUnwrap(count, primary.stdout)
    }

    func testAnApplicationKilledBetweenTheLogAndThePoolLeavesNoReplicaAheadOfThePool() throws {
        let cluster = try ProcessCluster()
        let replicas = [try cluster.startReplica("r1"), try cluster.startReplica("r2")]
        let go = cluster.directory.file("go")
        // Killed inside commit 2000: its log record is streamed, the pool's redo record is not.
        let app = try startApplication(
            cluster, environment: ["REPL_KILL_AT_COMMIT": "2000", "REPL_START_FILE": go])
        let agent = try startAgent(cluster, replicas: replicas, watch: app)
        try cluster.waitUntil("both replicas hold the baseline", timeout: 60) {
            try cluster.state("r1").poolGeneration > 0 && cluster.state("r2").poolGeneration > 0
        }
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        app.waitUntilExit()
        XCTAssertEqual(app.terminationReason, .uncaughtSignal)
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 0, cluster.errors("agent"))
        let drain = try report(cluster)
        XCTAssertTrue(drain.complete)
        XCTAssertEqual(drain.lastTransaction, 1999, "the last transaction the pool holds")
        XCTAssertEqual(drain.withheldRecords, 1, "the log's record of commit 2000 is not shipped")
        for process in cluster.started { ProcessCluster.killHard(process) }
        let primary = try primaryCount(cluster)
        XCTAssertEqual(primary, 1998, "commit 1 made the root; commits 2...1999 pushed")
        for name in ["r1", "r2"] {
            XCTAssertEqual(try cluster.state(name).lastTransaction, 1999, name)
            XCTAssertEqual(
                try cluster.promoteAndVerify(name), primary, "\(name) holds what the primary holds")
        }
    }

    func testAKilledReplicaCatchesUpFromItsPersistedState() throws {
        let cluster = try ProcessCluster()
        let r1 = try cluster.startReplica("r1")
        let r2 = try cluster.startReplica("r2")
        let app = try startApplication(cluster)
        let agent = try startAgent(cluster, replicas: [r1, r2])
        try cluster.waitUntil("r2 follows", timeout: 60) { try cluster.state("r2").lastTransaction > 2000 }
        let r2Process = cluster.started[1]
        ProcessCluster.killHard(r2Process)
        let stoppedAt = try cluster.state("r2").appliedSequence
        try cluster.waitUntil("r1 moves on", timeout: 60) {
            try cluster.state("r1").appliedSequence > stoppedAt + 3000
        }
        _ = try cluster.startReplica("r2", port: r2.port)
        try cluster.waitUntil("r2 catches up", timeout: 60) {
            try cluster.state("r2").appliedSequence > cluster.state("r1").appliedSequence - 2000
        }
        ProcessCluster.killHard(app)
        let returned = cluster.progressValue()
        let answer = try CLI.run(["ha", "power-fail", "--log", cluster.log])
        XCTAssertEqual(answer.status, 0, answer.stderr)
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 0, cluster.errors("agent"))
        let drain = try report(cluster)
        XCTAssertTrue(drain.complete)
        XCTAssertEqual(drain.reason, "power failure notice (pmemctl ha power-fail)")
        XCTAssertEqual(drain.trigger, "control")
        let state = try cluster.state("r2")
        XCTAssertEqual(state.appliedSequence, drain.lastSequence)
        XCTAssertEqual(
            state.appliedRecords, state.appliedSequence - state.firstSequence + 1,
            "no record twice, none skipped")
        for process in cluster.started { ProcessCluster.killHard(process) }
        XCTAssertGreaterThanOrEqual(try cluster.promoteAndVerify("r2"), returned)
    }

    func testStatusAndMetricsReportEachReplicaAndAnUnreachableOneIsReportedIncomplete() throws {
        let cluster = try ProcessCluster()
        let r1 = try cluster.startReplica("r1")
        let unreachable = Endpoint(host: "127.0.0.1", port: 9)
        let app = try startApplication(cluster, count: 200)
        app.waitUntilExit()
        let agent = try startAgent(cluster, replicas: [r1, unreachable], batteryMs: 1500)
        try cluster.waitUntil("r1 has everything", timeout: 30) {
            try cluster.state("r1").lastTransaction == 201
        }
        let status = try CLI.run(["ha", "status", "--log", cluster.log, "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        let decoded = try JSONDecoder().decode(AgentStatus.self, from: Data(status.stdout.utf8))
        XCTAssertEqual(decoded.replicas.map(\.address), [r1.description, unreachable.description])
        XCTAssertEqual(decoded.replicas[0].lagRecords, 0)
        XCTAssertEqual(decoded.replicas[0].ackedSequence, decoded.lastSequence)
        XCTAssertEqual(decoded.replicas[1].lagRecords, decoded.lastSequence - decoded.headSequence + 1)
        XCTAssertEqual(
            decoded.usedBytes > 0, true, "nothing is reclaimed while a replica has not acknowledged")
        let metrics = try CLI.run(["ha", "metrics", "--log", cluster.log])
        XCTAssertTrue(
            metrics.stdout.contains("pmemkit_replication_lag_records{replica=\"\(unreachable)\"}"),
            metrics.stdout)
        let table = try CLI.run(["ha", "status", "--log", cluster.log])
        XCTAssertTrue(table.stdout.contains("lag records"), table.stdout)
        kill(agent.processIdentifier, SIGPWR)
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 1, "a replica did not get everything")
        let drain = try report(cluster)
        XCTAssertFalse(drain.complete)
        XCTAssertEqual(drain.replicas[0].lagRecords, 0)
        XCTAssertGreaterThan(drain.replicas[1].lagRecords, 0)
        XCTAssertTrue(cluster.errors("agent").contains("incomplete"), cluster.errors("agent"))
    }

    func testDelayedDroppedCutAndCorruptedTrafficLosesAndDuplicatesNothing() throws {
        let cluster = try ProcessCluster()
        let direct = try cluster.startReplica("r1")
        let behind = try cluster.startReplica("r2")
        let proxy = try FaultProxy(
            upstream: behind.port,
            faults: .init(delayMicroseconds: 200, drop: [80, 200], corrupt: [25, 130], cut: [160, 280]))
        defer { proxy.close() }
        let app = try startApplication(cluster, count: 20_000)
        let agent = try startAgent(
            cluster, replicas: [direct, Endpoint(host: "127.0.0.1", port: proxy.port)], watch: app)
        var previous: UInt64 = 0
        var samples = 0
        // Faults stay on until every one of them has been injected, however
        // soon the application finishes (it may be done before the agent has
        // shipped much to r2; the drain then meets the faults).
        let deadline = Date().addingTimeInterval(15)
        while app.isRunning || (agent.isRunning && proxy.chunksSeen <= 300 && Date() < deadline)
            || samples == 0
        {
            let state = try cluster.state("r2")
            XCTAssertGreaterThanOrEqual(state.appliedSequence, previous, "a replica never goes back")
            if state.appliedSequence > 0 {
                XCTAssertEqual(
                    state.appliedRecords, state.appliedSequence - state.firstSequence + 1,
                    "a prefix, once each")
            }
            previous = state.appliedSequence
            samples += 1
            usleep(20_000)
            if proxy.chunksSeen > 300 { proxy.heal() }
        }
        proxy.heal()
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 0, cluster.errors("agent"))
        XCTAssertTrue(try report(cluster).complete)
        XCTAssertGreaterThan(proxy.chunksBeforeHealing ?? 0, 280, "every fault was injected before healing")
        XCTAssertTrue(
            cluster.errors("r2").contains("rejected"),
            "corrupted frames were rejected and logged: \(cluster.errors("r2"))")
        for process in cluster.started { ProcessCluster.killHard(process) }
        XCTAssertEqual(try cluster.promoteAndVerify("r2"), 20_000)
        XCTAssertEqual(try cluster.promoteAndVerify("r1"), 20_000)
    }
}
