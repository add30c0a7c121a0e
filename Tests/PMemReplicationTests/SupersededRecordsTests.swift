import Foundation
import PMemReplication
import TestSupport
import XCTest

/// Records the agent skips (never shown committed, superseded by a later
/// baseline) count as held by every replica that skipped them.
final class SupersededRecordsTests: XCTestCase {
    private func drain(_ cluster: ProcessCluster, _ replica: Endpoint, batteryMs: Int) throws -> (
        status: Int32, report: DrainReport
    ) {
        let agent = try cluster.launch(
            "pmemctl",
            [
                "ha", "agent", "--log", cluster.log, "--key-file", cluster.keyFile, "--replica",
                replica.description, "--battery-ms", "\(batteryMs)", "--json",
            ],
            label: "agent")
        try cluster.waitUntil("the agent takes the notice", timeout: 20) {
            try CLI.run(["ha", "power-fail", "--log", cluster.log], timeout: 10).status == 0
        }
        agent.waitUntilExit()
        return (
            agent.terminationStatus,
            try JSONDecoder().decode(DrainReport.self, from: Data(cluster.output("agent").utf8))
        )
    }

    /// Found by the crash campaign (application phase): the application
    /// killed inside commit 12 (its log record written, the pool's not),
    /// then killed again while writing its next attach's baseline, before
    /// the baseline's end. Record 12 is skipped (superseded by that
    /// baseline) and the baseline is not shippable, so the replica holds
    /// all it should at commit 11; the drain waited for it to acknowledge
    /// the skipped record, which is never sent, and failed at the battery
    /// deadline, reporting transaction 12, which the primary never committed.
    func testADrainEndsWhenTheLastRecordIsSupersededByAnUnfinishedBaseline() throws {
        let cluster = try ProcessCluster()
        let replica = try cluster.startReplica("r1")
        let app = try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "100", cluster.progress], label: "app",
            environment: ["REPL_KILL_AT_COMMIT": "12"])
        app.waitUntilExit()
        XCTAssertEqual(app.terminationReason, .uncaughtSignal)
        let first = try drain(cluster, replica, batteryMs: 20_000)
        XCTAssertEqual(first.status, 0, cluster.errors("agent"))
        XCTAssertEqual(first.report.lastTransaction, 11)
        XCTAssertEqual(first.report.withheldRecords, 1, "commit 12's record")

        let again = try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "100", cluster.progress], label: "app",
            environment: ["PMEMKIT_CRASH_AT": "log.baseline.writes:1"])
        again.waitUntilExit()
        XCTAssertTrue(cluster.errors("app").contains("log.baseline.writes (SIGKILL)"), cluster.errors("app"))

        let start = Date()
        let second = try drain(cluster, replica, batteryMs: 5000)
        XCTAssertEqual(second.status, 0, "the drain completes: \(cluster.errors("agent"))")
        XCTAssertTrue(second.report.complete)
        XCTAssertLessThan(Date().timeIntervalSince(start), 4, "not at the battery deadline")
        let state = try cluster.state("r1")
        XCTAssertEqual(second.report.lastSequence, state.appliedSequence, "what the replica holds")
        XCTAssertEqual(second.report.lastTransaction, 11, "the pool's last commit, not the skipped 12")
        XCTAssertEqual(state.lastTransaction, 11)
        XCTAssertEqual(
            second.report.withheldRecords, 3, "commit 12's record, the unfinished baseline's start and writes"
        )
        XCTAssertEqual(second.report.replicas.first?.lagRecords, 0)
    }
}
