import Foundation
import PMemReplication
import TestSupport
import XCTest

/// A promotion killed part way leaves no pool at its output path, and
/// running it again finishes it.
final class PromotionCrashTests: XCTestCase {
    /// A stopped replica's store holding the workload's first 300 pushes.
    private func store(_ cluster: ProcessCluster) throws -> String {
        let replica = try cluster.startReplica("r1")
        let app = try cluster.launch(
            "repl-workload", ["run", cluster.pool, cluster.log, "300", cluster.progress], label: "app")
        app.waitUntilExit()
        XCTAssertEqual(app.terminationStatus, 0, cluster.errors("app"))
        try cluster.launch(
            "pmemctl",
            [
                "ha", "agent", "--log", cluster.log, "--key-file", cluster.keyFile, "--replica",
                replica.description,
            ],
            label: "agent")
        try cluster.waitUntil("r1 has everything", timeout: 30) {
            try cluster.state("r1").lastTransaction == 301
        }
        for process in cluster.started { ProcessCluster.killHard(process) }
        return cluster.store("r1")
    }

    /// Found by the crash campaign (promotion phase): `replica promote`
    /// killed after writing the first 1 MiB of the pool left a file at the
    /// output path that opened as a valid, empty heap (count 0): a failover
    /// would have started the application on it, every transaction lost;
    /// and promoting again refused, the path being taken. Now the pool is
    /// written beside it and linked there only once whole and synced.
    func testAPromotionKilledWhileWritingLeavesNoPoolAndARerunFinishes() throws {
        let cluster = try ProcessCluster()
        let store = try store(cluster)
        let out = cluster.directory.file("promoted")
        for point in ["replica.promote.created:1", "replica.promote.sized:1", "replica.promote.chunk:1"] {
            let killed = try CLI.run(
                ["replica", "promote", "--store", store, "--out", out],
                environment: ["PMEMKIT_CRASH_AT": point],
                timeout: 60)
            XCTAssertEqual(killed.status, 128 + SIGKILL, "killed at \(point): \(killed.stderr)")
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: out), "killed at \(point): a pool was left at \(out)")
        }
        let rerun = try CLI.run(["replica", "promote", "--store", store, "--out", out], timeout: 60)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        let verify = try CLI.run(
            executable: "repl-workload", ["verify", out], environment: ["PMEMKIT_HEAP_RELOCATE": "1"],
            timeout: 60)
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.hasPrefix("count=300 "), verify.stdout)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cluster.directory.path).filter {
            $0.hasPrefix(".promoted")
        }
        XCTAssertEqual(leftovers, [], "the partial file of the killed runs is gone")
    }

    func testAPromotionStillRefusesAnOutputPathThatExists() throws {
        let cluster = try ProcessCluster()
        let store = try store(cluster)
        let out = cluster.directory.makeFile("taken", size: 10)
        let refused = try CLI.run(["replica", "promote", "--store", store, "--out", out], timeout: 60)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("exists"), refused.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)).count, 10, "left as it was")
    }
}
