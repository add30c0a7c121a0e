import Foundation
import PMemReplication
import TestSupport
import XCTest

/// An agent started again over a log (after a crash, or a drain) knows what
/// the replicas hold, even when every record was reclaimed.
final class AgentRestartTests: XCTestCase {
    private func agent(_ cluster: ProcessCluster, _ replica: Endpoint) throws -> Process {
        try cluster.launch(
            "pmemctl",
            [
                "ha", "agent", "--log", cluster.log, "--key-file", cluster.keyFile, "--replica",
                replica.description, "--json",
            ],
            label: "agent")
    }

    private func drain(_ cluster: ProcessCluster, _ agent: Process) throws -> DrainReport {
        try cluster.waitUntil("the agent takes the notice", timeout: 20) {
            try CLI.run(["ha", "power-fail", "--log", cluster.log], timeout: 10).status == 0
        }
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationStatus, 0, cluster.errors("agent"))
        return try JSONDecoder().decode(DrainReport.self, from: Data(cluster.output("agent").utf8))
    }

    /// Found by the crash campaign (application phase): an agent started
    /// where every record had been acknowledged and reclaimed reported
    /// `last_transaction` 0 in its drain report and status, while the
    /// replicas held transaction 51; the reclaim point now records it.
    func testAnAgentOverAFullyReclaimedLogReportsTheReplicasLastTransaction() throws {
        let cluster = try ProcessCluster()
        let replica = try cluster.startReplica("r1")
        let app = try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "50", cluster.progress], label: "app")
        app.waitUntilExit()
        XCTAssertEqual(app.terminationStatus, 0, cluster.errors("app"))
        let first = try drain(cluster, try agent(cluster, replica))
        XCTAssertTrue(first.complete)
        XCTAssertEqual(first.lastTransaction, 51, "commit 1 made the root, 2...51 pushed")
        let point = try LogRegion.open(path: cluster.log).reclaimPoint()
        XCTAssertEqual(point.sequence, first.lastSequence + 1, "everything acknowledged was reclaimed")
        XCTAssertEqual(point.transaction, 51)

        let again = try agent(cluster, replica)
        try cluster.waitUntil("the new agent answers", timeout: 20) {
            try CLI.run(["ha", "status", "--log", cluster.log, "--json"], timeout: 10).status == 0
        }
        let status = try CLI.run(["ha", "status", "--log", cluster.log, "--json"], timeout: 10)
        let decoded = try JSONDecoder().decode(AgentStatus.self, from: Data(status.stdout.utf8))
        XCTAssertEqual(decoded.lastSequence, first.lastSequence)
        XCTAssertEqual(decoded.lastTransaction, 51, "status: what the replicas hold")
        let second = try drain(cluster, again)
        XCTAssertTrue(second.complete)
        XCTAssertEqual(second.lastSequence, first.lastSequence)
        XCTAssertEqual(second.lastTransaction, 51, "the drain report: what the replicas hold")
        XCTAssertEqual(try cluster.state("r1").lastTransaction, 51)
    }
}
