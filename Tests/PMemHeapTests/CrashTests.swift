import Foundation
import XCTest

/// Kills a child process at random points during allocation, transactions
/// and relocation, reopens the pool (often at another base) and checks the
/// invariants: every reachable object allocated, none lost or leaked, no
/// torn transaction, every pointer valid, every acknowledged commit present.
///
/// The normal run has 1,000 kill points (800 in transactions and
/// allocation, 200 in relocation); `PMEMKIT_CRASH_LONG=N` runs N times as many. Kills are SIGKILL, so they test the logic of recovery
/// (a crash between any two persistence steps), not the loss of unflushed
/// cache lines on power failure, which a process crash cannot show.
final class CrashTests: XCTestCase {
    private var random = SystemRandomNumberGenerator()

    /// Transactions with allocations and frees on two threads, killed at
    /// injected crash points (around every fence, between redo entries, in
    /// slab assignment and checkpoints) or by a timer; each kill is followed
    /// by a verifying reopen, every other one at a forced different base.
    func testKillsDuringTransactionsAndAllocation() throws {
        let harness = try CrashHarness(directory: try scratchDirectory(self))
        guard
            let (runs, known) = try killWorkload(harness, wanted: 800 * CrashHarness.scale, environment: [:])
        else { return }
        print(
            "crash test: \(800 * CrashHarness.scale) kill points during transactions (\(runs) runs), \(known) operations committed"
        )
    }

    /// Runs the crash workload until `wanted` runs were killed (at a random
    /// crash point, or by a timer every fourth run), each followed by
    /// `afterKill` (when it was killed) and by a verifying reopen, every other
    /// one at a forced different base. Returns the runs and the operations
    /// committed, or nil after reporting a failure.
    private func killWorkload(
        _ harness: CrashHarness, wanted: Int, environment base: [String: String],
        afterKill: (_ iteration: Int, _ placement: [String: String]) throws -> Void = { _, _ in }
    ) throws -> (runs: Int, committed: [Int64])? {
        let pool = harness.directory + "/pool"
        var known: [Int64] = [0, 0]
        var kills = 0
        var iteration = 0
        while kills < wanted {
            iteration += 1
            guard iteration <= 2 * wanted else {
                XCTFail("only \(kills) of \(iteration) runs were killed")
                return nil
            }
            let seed = random.next() % 1_000_000
            let byTimer = iteration % 4 == 3
            var environment = base
            if !byTimer { environment["PMEMKIT_CRASH_AT"] = "\(1 + random.next() % 3000)" }
            let work = try harness.run(
                harness.child, ["work", pool, "\(seed)", "2", "100000"], environment: environment,
                killWhenReady: byTimer ? Double(random.next() % 20) / 1000 : nil)
            XCTAssertTrue(work.killed || work.status == 0, "work: \(work.stderr)")
            let placement = iteration % 2 == 0 ? ["PMEMKIT_HEAP_RELOCATE": "1"] : [:]
            if work.killed {
                kills += 1
                try afterKill(iteration, placement)
            }
            let acks = CrashHarness.acknowledged(work.stdout, previous: known)
            let verify = try harness.run(
                harness.child, ["verify", pool, "\(acks[0])", "\(acks[1])"], environment: placement)
            guard verify.status == 0, let committed = CrashHarness.committed(verify.stdout) else {
                try? FileManager.default.copyItem(atPath: pool, toPath: "/tmp/pmemheap-crash-failed.pool")
                XCTFail(
                    "iteration \(iteration) (seed \(seed), \(environment)): \(verify.stderr)\(verify.stdout)")
                return nil
            }
            known = committed
        }
        return (iteration, known)
    }

    /// Relocation killed at a random slab (once to three times in a row, each
    /// at a new base), then a reopen at yet another base must find the whole
    /// structure; every fifth time `pmemctl heap check --recover` does the
    /// reopen at a forced different base and must pass.
    func testKillsDuringRelocation() throws {
        let harness = try CrashHarness(directory: try scratchDirectory(self))
        let pool = harness.directory + "/pool"
        let populate = try harness.run(harness.child, ["populate", pool, "12000"])
        XCTAssertEqual(populate.status, 0, populate.stderr)
        let first = try harness.run(
            harness.child, ["verify", pool, "-", "-"], environment: ["PMEMKIT_HEAP_RELOCATE": "1"])
        guard let committed = CrashHarness.committed(first.stdout) else { return XCTFail(first.stderr) }
        let slabs = try Int(XCTUnwrap(statsSlabs(harness, pool)))
        var kills = 0
        var checks = 0
        let wanted = 200 * CrashHarness.scale
        var iteration = 0
        while kills < wanted {
            iteration += 1
            for _ in 0...(random.next() % 3) {
                let point = 1 + random.next() % UInt64(slabs + 2)
                let reopen = try harness.run(
                    harness.child, ["reopen", pool],
                    environment: [
                        "PMEMKIT_HEAP_RELOCATE": "1", "PMEMKIT_CRASH_AT": "heap.relocate.:\(point)",
                    ])
                XCTAssertTrue(reopen.killed, "relocation was not killed at point \(point): \(reopen.stderr)")
                kills += reopen.killed ? 1 : 0
            }
            if iteration % 5 == 1 {
                let recover = try harness.run(
                    harness.pmemctl, ["heap", "check", "--recover", pool],
                    environment: ["PMEMKIT_HEAP_RELOCATE": "1"])
                XCTAssertEqual(recover.status, 0, "pmemctl heap check --recover: \(recover.stderr)")
                let check = try harness.run(harness.pmemctl, ["heap", "check", pool])
                XCTAssertEqual(check.status, 0, "pmemctl heap check: \(check.stderr)")
                checks += 1
            }
            let verify = try harness.run(
                harness.child, ["verify", pool, "\(committed[0])", "\(committed[1])"],
                environment: ["PMEMKIT_HEAP_RELOCATE": "1"])
            guard verify.status == 0 else {
                try? FileManager.default.copyItem(atPath: pool, toPath: "/tmp/pmemheap-crash-failed.pool")
                return XCTFail("iteration \(iteration): \(verify.stderr)")
            }
            XCTAssertTrue(verify.stdout.contains("relocated=true"))
        }
        print(
            "crash test: \(kills) kill points during relocation, \(checks) pmemctl checks after killed relocations"
        )
    }

    /// A reachability pool (allocation and free persist nothing): the workload
    /// also allocates outside transactions, fills objects with plain stores and
    /// `persist`, links them in a transaction, unlinks in one and frees outside
    /// it, and keeps an unlinked scratch object. Killed at crash points or by a
    /// timer; then, after a kill, the open's trace is killed too (at its root,
    /// after marking, at a slab's bitmap rewrite, at its end; at another base
    /// every other time, so trace and relocation are one walk); then a
    /// verifying open (trace) and the checker: nothing reachable lost, nothing
    /// unreachable kept, no torn transaction, every acknowledged commit there.
    func testKillsWithReachabilityRecovery() throws {
        let harness = try CrashHarness(directory: try scratchDirectory(self))
        let pool = harness.directory + "/pool"
        let wanted = 300 * CrashHarness.scale
        var traceKills = 0
        guard
            let (runs, known) = try killWorkload(
                harness, wanted: wanted, environment: ["HEAP_CRASH_RECOVERY": "reachability"],
                afterKill: { iteration, placement in
                    guard iteration % 3 != 0 else { return }
                    // The pool is not cleanly closed: the open traces. Kill that trace.
                    let reopen = try harness.run(
                        harness.child, ["reopen", pool],
                        environment: placement.merging([
                            "PMEMKIT_CRASH_AT": "heap.trace.:\(1 + random.next() % 12)"
                        ]) {
                            $1
                        })
                    XCTAssertTrue(reopen.killed || reopen.status == 0, "reopen: \(reopen.stderr)")
                    if reopen.killed { traceKills += 1 }
                })
        else { return }
        XCTAssertGreaterThan(traceKills, wanted / 4, "too few opens were killed inside the trace")
        print(
            "crash test: \(wanted) kill points in a reachability pool's workload (\(runs) runs), "
                + "\(traceKills) inside the trace at open, \(known) operations committed")
    }

    private func statsSlabs(_ harness: CrashHarness, _ pool: String) throws -> Int? {
        let stats = try harness.run(harness.pmemctl, ["heap", "stats", pool, "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        return json?["slabs_used"] as? Int
    }
}
