import Foundation
import TestSupport
import XCTest

/// Whole-machine failures of a replica set that fails over by itself: the
/// `failover-auto` case of `pmem-bench replication --quick` (etcd and three
/// `pmemctl ha node` processes, each in a network namespace of its own when
/// the test runs as root) fails the primary's machine six times in turn —
/// killed, frozen (SIGSTOP) and its links cut — and brings it back. The test
/// holds the case to its correctness fields; its timings are figures for
/// docs/BENCHMARKS.md, not checked here.
final class AutomaticFailoverTests: XCTestCase {
    func testKilledFrozenAndCutPrimariesAreReplacedWithoutLossOrASecondWriter() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let run = try CLI.run(
            executable: "pmem-bench", ["replication", "--quick", "--json"],
            environment: ["PMEMKIT_BENCH_CASES": "failover-auto"], timeout: 540)
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let cases = try XCTUnwrap(report?["cases"] as? [[String: Any]])
        let extra = try XCTUnwrap(
            cases.first { $0["name"] as? String == "failover-auto" }?["extra"] as? [String: Double])
        print(
            "AutomaticFailoverTests: \(extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        )
        let rounds = try XCTUnwrap(extra["rounds"])
        XCTAssertEqual(rounds, 6, "quick: one warm-up round and five measured")
        XCTAssertEqual(
            extra["rejoined"], rounds, "every old primary came back as a replica, never as a writer")
        // A machine frozen inside a commit completes that one commit when thawed (admitted while its
        // term surely lasted; local to the old pool, never replicated); the fence admits no other.
        XCTAssertLessThanOrEqual(
            try XCTUnwrap(extra["stale_commits_max_round"]), 1,
            "a stale primary's application admitted a transaction after its successor began")
        XCTAssertEqual(extra["lost_commits"], 0, "a commit every replica acknowledged was lost")
        XCTAssertEqual(extra["history_checked"], 1, "the final pool's list did not verify")
        XCTAssertEqual(extra["two_writer_epochs"], 0, "an epoch had two writers")
        XCTAssertEqual(extra["epoch_regressions"], 0, "a commit carries an older epoch than one before it")
        // Every term left commits; a primary starved of CPU long enough to lose its lease (a slow
        // sanitizer run) adds a term of its own, which is failover working, not a fault.
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(extra["history_epochs"]), rounds + 1)
        XCTAssertLessThanOrEqual(
            try XCTUnwrap(extra["aside_files_max"]), 2, "a node keeps one earlier term's pool and log aside")
        XCTAssertNotNil(extra["failover_kill_ms"])
        XCTAssertNotNil(extra["failover_freeze_ms"])
        if getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") {
            XCTAssertEqual(extra["namespaces"], 1, "as root the nodes run on hosts of their own")
            XCTAssertNotNil(extra["failover_cut_ms"], "links were cut in one round of three")
        }
    }
}
