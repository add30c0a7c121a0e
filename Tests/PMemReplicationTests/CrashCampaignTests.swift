import Foundation
import PMemReplication
import TestSupport
import XCTest

/// The crash-point campaign across the replication path (docs/RELIABILITY.md):
/// each phase kills one process of a running cluster — the application, the
/// agent, a replica, the promoting command — at crash points drawn from a
/// calibration run (or by a timer), recovers, and checks every invariant
/// (`CrashCampaign+Invariants`). The heap's own phases are `CrashTests`.
///
/// The normal run is the CI slice: `killsPerPhase` kill points per phase;
/// `PMEMKIT_CRASH_LONG=N` runs N times as many. Each phase prints its
/// figures (`crash campaign [PHASE]: ...`).
final class CrashCampaignTests: XCTestCase {
    /// Kill points per phase in the normal run.
    static let killsPerPhase = 40
    /// Pushes per application run in the application phase.
    static let pushesPerRun = 40

    private var wanted: Int { Self.killsPerPhase * CrashCampaign.scale }

    /// Creates the pool with its root and node 1, detached cleanly.
    private func populate(_ campaign: CrashCampaign, detach: Bool = true) throws {
        let app = try campaign.startApplication(count: 1, environment: detach ? [:] : ["REPL_NO_DETACH": "1"])
        app.waitUntilExit()
        XCTAssertEqual(app.terminationStatus, 0, campaign.cluster.errors("app"))
    }

    // MARK: The application

    /// The application killed in attach, baseline, log append and heap
    /// commit; after each kill the agent drains to two replicas, and the
    /// primary, the drain report, the replicas' states and a promoted
    /// replica must all agree: nothing that returned lost, nothing torn,
    /// no replica ahead of the pool.
    func testKillsTheApplication() throws {
        let campaign = try CrashCampaign(phase: "application")
        defer { print(campaign.summary) }
        let replicas = [CrashCampaign.Replica("r1"), CrashCampaign.Replica("r2")]
        for replica in replicas { try campaign.start(replica) }
        try populate(campaign)
        var committed: UInt64 = 1
        // Calibration: a run attached after a clean detach (it continues the
        // log; ended without detaching), then one attached after that (it
        // writes a baseline; detaches). Each draw then uses the one that
        // matches how the previous run ended.
        var duration = 0.0
        var histograms: [[String: Int]] = []
        for extra in [["REPL_NO_DETACH": "1"], [:]] {
            let ran = try applicationRun(
                campaign, replicas, plan: .calibrate, extra: extra, committed: &committed)
            duration = max(duration, ran)
            histograms.append(CrashCampaign.histogram(campaign.cluster.errors("app")))
        }
        let afterDetach = CrashCampaign.merge(histograms[0], ["log.detach.slot": 1])
        let afterCrash = histograms[1]
        XCTAssertNotNil(afterCrash["log.baseline.writes"], "calibration passed a baseline: \(afterCrash)")
        var detached = true
        var runs = 0
        while campaign.killCount < wanted && campaign.violations.isEmpty {
            runs += 1
            guard runs <= 4 * wanted else {
                return campaign.violation("only \(campaign.killCount) kills in \(runs) runs")
            }
            let plan = campaign.draw(detached ? afterDetach : afterCrash, prefix: "", timerLimit: duration)
            let before = campaign.killCount
            try applicationRun(campaign, replicas, plan: plan, extra: [:], committed: &committed)
            detached = campaign.killCount == before
        }
    }

    /// One run of the application phase: agent up, application run under
    /// `plan`, drain, then every check; `committed` is the list's length.
    /// Returns how long the application ran.
    @discardableResult
    private func applicationRun(
        _ campaign: CrashCampaign, _ replicas: [CrashCampaign.Replica], plan: CrashCampaign.Plan,
        extra: [String: String], committed: inout UInt64
    ) throws -> Double {
        let agent = try campaign.startAgent(replicas)
        let start = Date()
        let app = try campaign.startApplication(
            count: Self.pushesPerRun, environment: plan.environment.merging(extra) { $1 })
        let killedAt = campaign.finish(app, label: "app", plan: plan, timeout: 60)
        let ran = Date().timeIntervalSince(start)
        let returned = campaign.cluster.progressValue()
        guard let report = try campaign.drain(agent) else {
            campaign.violation("the agent did not report its drain: \(campaign.cluster.errors("agent"))")
            return ran
        }
        campaign.expect(report.complete, "the drain after \(plan) was incomplete: \(report)")
        guard let count = try campaign.checkPrimary() else { return ran }
        let previous = committed
        committed = count
        campaign.expect(
            count >= previous && count >= returned,
            "\(plan): the primary holds \(count) nodes; \(previous) were committed before the run and its "
                + "last returned commit pushed node \(returned)")
        campaign.expect(
            killedAt != nil
                ? count <= max(previous, returned) + 1 : count == previous + UInt64(Self.pushesPerRun),
            "\(plan) (killed at \(killedAt ?? "no point")): \(count) nodes after \(previous), "
                + "the last returned push \(returned)")
        campaign.expect(
            report.lastTransaction == count + 1,
            "\(plan): the drain ended at transaction \(report.lastTransaction), the pool holds \(count) pushes"
        )
        for replica in replicas {
            let state = try campaign.cluster.state(replica.name)
            campaign.expect(
                state.appliedSequence == report.lastSequence
                    && state.lastTransaction == report.lastTransaction,
                "\(plan): \(replica.name) applied \(state.appliedSequence) (transaction \(state.lastTransaction)), "
                    + "the drain ended at \(report.lastSequence) (transaction \(report.lastTransaction))")
        }
        // A failover now: a replica (stopped like a crashed machine) promoted holds exactly the primary's list.
        let replica = replicas[Int(count % 2)]
        campaign.stop(replica)
        if let promoted = try campaign.checkPromoted(replica.name) {
            campaign.expect(
                promoted == count,
                "\(plan): \(replica.name) promoted holds \(promoted) nodes, the primary \(count)")
        }
        try campaign.start(replica)
        return ran
    }

    // MARK: The agent

    /// The agent killed while it ships, records acknowledgements, moves the
    /// reclaim point and drains, and restarted each time, while the
    /// application commits: no record reclaimed that a replica lacks, each
    /// replica's state only moves forward and never past the primary, a
    /// promoted replica holds a prefix; at the end a drain leaves both
    /// replicas equal to the primary, every record applied exactly once.
    func testKillsTheAgent() throws {
        let campaign = try CrashCampaign(phase: "agent")
        defer { print(campaign.summary) }
        let replicas = [CrashCampaign.Replica("r1"), CrashCampaign.Replica("r2")]
        for replica in replicas { try campaign.start(replica) }
        try populate(campaign)
        let app = try campaign.startApplication(count: 0, environment: ["REPL_PAUSE_US": "1000"])
        try campaign.cluster.waitUntil("the application attached", timeout: 20) {
            campaign.cluster.output("app").contains("ready")
        }
        let calibration = try campaign.startAgent(
            replicas, environment: CrashCampaign.Plan.calibrate.environment)
        usleep(1_000_000)
        _ = try campaign.drain(calibration)
        let histogram = CrashCampaign.histogram(campaign.cluster.errors("agent"))
        XCTAssertNotNil(histogram["agent.reclaim.stored"], "calibration reclaimed: \(histogram)")
        var applied = try replicas.map { try campaign.cluster.state($0.name).appliedSequence }
        var prefixes: [UInt64] = []
        var runs = 0
        while campaign.killCount < wanted && campaign.violations.isEmpty {
            runs += 1
            guard runs <= 4 * wanted else {
                return campaign.violation("only \(campaign.killCount) kills in \(runs) runs")
            }
            let plan = campaign.draw(histogram, prefix: "agent.", timerLimit: 1)
            let agent = try campaign.startAgent(replicas, environment: plan.environment)
            if plan.target?.hasPrefix("agent.drain.") ?? false {
                usleep(useconds_t(50_000 + campaign.next(250_000)))
                _ = try CLI.run(["ha", "power-fail", "--log", campaign.cluster.log], timeout: 10)
            }
            runLongLived(campaign, agent, label: "agent", plan: plan, within: 2)
            XCTAssertTrue(app.isRunning, "the application runs on: \(campaign.cluster.errors("app"))")
            try campaign.checkReclaim(replicas)
            for (index, replica) in replicas.enumerated() {
                let state = try campaign.cluster.state(replica.name)
                campaign.expect(
                    state.appliedSequence >= applied[index],
                    "\(plan): \(replica.name) went back from \(applied[index]) to \(state.appliedSequence)")
                applied[index] = state.appliedSequence
                let returned = campaign.cluster.progressValue()
                campaign.expect(
                    state.lastTransaction <= returned + 2,
                    "\(plan): \(replica.name) holds transaction \(state.lastTransaction), the application's "
                        + "last returned commit pushed node \(returned)")
            }
            if runs % 4 == 0 {
                let replica = replicas[1]
                campaign.stop(replica)
                if let promoted = try campaign.checkPromoted(replica.name) {
                    let returned = campaign.cluster.progressValue()
                    campaign.expect(
                        promoted <= returned + 1,
                        "\(plan): \(replica.name) holds \(promoted) nodes, ahead of the primary's \(returned)"
                    )
                    prefixes.append(promoted)
                }
                try campaign.start(replica)
            }
        }
        try finishPhase(campaign, replicas, app: app, prefixes: prefixes, exactlyOnce: true)
    }

    /// Waits for a long-running process killed at a crash point; one still
    /// running after `within` seconds (or a timer plan's delay) is killed
    /// then, a timer kill.
    private func runLongLived(
        _ campaign: CrashCampaign, _ process: Process, label: String, plan: CrashCampaign.Plan, within: Double
    ) {
        var limit = within
        if case .timer(let delay) = plan { limit = delay }
        if !campaign.wait(process, timeout: limit) {
            ProcessCluster.killHard(process)
            if case .timer = plan { campaign.tally("timer") } else { campaign.tallyFallback() }
            return
        }
        _ = campaign.outcome(process, label: label, plan: plan)
    }

    /// Ends a phase: the application killed, a clean agent drains, and the
    /// primary, both replicas and the prefixes seen along the way must agree.
    private func finishPhase(
        _ campaign: CrashCampaign, _ replicas: [CrashCampaign.Replica], app: Process, prefixes: [UInt64],
        exactlyOnce: Bool
    ) throws {
        ProcessCluster.killHard(app)
        let returned = campaign.cluster.progressValue()
        let agent = try campaign.startAgent(replicas)
        guard let report = try campaign.drain(agent) else {
            return campaign.violation("the final drain did not report: \(campaign.cluster.errors("agent"))")
        }
        campaign.expect(report.complete, "the final drain was incomplete: \(report)")
        guard let count = try campaign.checkPrimary() else { return }
        campaign.expect(
            count >= returned, "the primary holds \(count) nodes; node \(returned)'s push returned")
        campaign.expect(
            report.lastTransaction == count + 1,
            "the final drain ended at transaction \(report.lastTransaction), the pool holds \(count) pushes")
        campaign.expect(
            prefixes.allSatisfy { $0 <= count },
            "a replica held more than the primary's \(count): \(prefixes)")
        for replica in replicas {
            let state = try campaign.cluster.state(replica.name)
            campaign.expect(
                state.appliedSequence == report.lastSequence,
                "\(replica.name) applied \(state.appliedSequence), the drain ended at \(report.lastSequence)")
            if exactlyOnce {
                campaign.expect(
                    state.appliedRecords == state.appliedSequence - state.firstSequence + 1,
                    "\(replica.name): \(state.appliedRecords) records applied from \(state.firstSequence) to "
                        + "\(state.appliedSequence): one twice or one skipped")
            }
            campaign.stop(replica)
            if let promoted = try campaign.checkPromoted(replica.name) {
                campaign.expect(
                    promoted == count, "\(replica.name) promoted holds \(promoted), the primary \(count)")
            }
        }
    }

    // MARK: A replica

    /// A replica killed while it stages, journals, applies and records
    /// batches, builds and switches baselines, and replays its journal on
    /// restart (the application restarted now and then, so baselines flow):
    /// its promoted copy is always a prefix of the primary's history,
    /// consistent with its state, its state never goes back, nothing it
    /// lacks is reclaimed; at the end it equals the primary.
    func testKillsAReplica() throws {
        let campaign = try CrashCampaign(phase: "replica")
        defer { print(campaign.summary) }
        let steady = CrashCampaign.Replica("r1")
        let victim = CrashCampaign.Replica("r2")
        let replicas = [steady, victim]
        for replica in replicas { try campaign.start(replica) }
        try populate(campaign)
        var app = try startPacedApplication(campaign)
        let agent = try campaign.startAgent(replicas)
        // Calibration: the victim applies for a second, through a baseline (the application restarted).
        campaign.stop(victim)
        try campaign.start(victim, environment: CrashCampaign.Plan.calibrate.environment)
        usleep(300_000)
        var floor = try restartApplication(campaign, &app)
        usleep(700_000)
        campaign.stop(victim)
        let histogram = CrashCampaign.histogram(campaign.cluster.errors(victim.name))
        XCTAssertNotNil(histogram["replica.baseline.flushed"], "calibration switched baselines: \(histogram)")
        var applied = try campaign.cluster.state(victim.name).appliedSequence
        var prefixes: [UInt64] = []
        var runs = 0
        while campaign.killCount < wanted && campaign.violations.isEmpty {
            runs += 1
            guard runs <= 4 * wanted else {
                return campaign.violation("only \(campaign.killCount) kills in \(runs) runs")
            }
            let plan = campaign.draw(histogram, prefix: "replica.", timerLimit: 1)
            if try campaign.start(victim, environment: plan.environment) {
                // A point of a baseline needs one: the application attaching again writes it.
                if runs % 5 == 0 || (plan.target?.hasPrefix("replica.baseline.") ?? false) {
                    floor = max(floor, try restartApplication(campaign, &app))
                }
                runLongLived(campaign, victim.process!, label: victim.name, plan: plan, within: 2)
            } else {
                _ = campaign.outcome(victim.process!, label: victim.name, plan: plan)
            }
            try campaign.checkReclaim(replicas)
            let state = try campaign.cluster.state(victim.name)
            campaign.expect(
                state.appliedSequence >= applied,
                "\(plan): went back from \(applied) to \(state.appliedSequence)")
            applied = state.appliedSequence
            if runs % 2 == 1 {
                // Recovered by the promotion (its journal replayed there); else by the next start.
                if let promoted = try campaign.checkPromoted(victim.name) {
                    let returned = campaign.cluster.progressValue()
                    campaign.expect(
                        promoted <= max(returned, floor) + 1,
                        "\(plan): the replica holds \(promoted) nodes, ahead of the primary's \(max(returned, floor))"
                    )
                    prefixes.append(promoted)
                }
            }
        }
        try campaign.start(victim)
        ProcessCluster.killHard(agent)
        try finishPhase(campaign, replicas, app: app, prefixes: prefixes, exactlyOnce: false)
    }

    /// The application pushing until killed, at a steady pace.
    private func startPacedApplication(_ campaign: CrashCampaign) throws -> Process {
        let app = try campaign.startApplication(count: 0, environment: ["REPL_PAUSE_US": "1000"])
        try campaign.cluster.waitUntil("the application attached", timeout: 20) {
            campaign.cluster.output("app").contains("ready")
        }
        return app
    }

    /// Kills the application and starts it again (its attach writes a
    /// baseline); returns the last push that returned before the kill.
    private func restartApplication(_ campaign: CrashCampaign, _ app: inout Process) throws -> UInt64 {
        ProcessCluster.killHard(app)
        let returned = campaign.cluster.progressValue()
        app = try startPacedApplication(campaign)
        return returned
    }

    // MARK: Promotion

    /// `pmemctl replica promote` killed while it replays a journaled batch
    /// (a store whose replica died mid-apply) and while it writes the pool
    /// file, then run again: a pool left at the output path is whole and
    /// equal to what an uninterrupted promotion gives; else the rerun
    /// writes it.
    func testKillsPromotion() throws {
        let campaign = try CrashCampaign(phase: "promotion")
        defer { print(campaign.summary) }
        let replica = CrashCampaign.Replica("r1")
        try campaign.start(replica)
        try populate(campaign)
        let more = try campaign.startApplication(count: 2000)
        more.waitUntilExit()
        let agent = try campaign.startAgent([replica])
        XCTAssertEqual(try campaign.drain(agent)?.complete, true)
        campaign.stop(replica)
        let whole = campaign.cluster.directory.file("snapshot-whole")
        try copyStore(campaign.cluster.store(replica.name), to: whole)
        // A store with a journaled batch not yet applied: its replica killed just after journaling.
        let after = try campaign.startApplication(count: 300)
        after.waitUntilExit()
        try campaign.start(replica, environment: ["PMEMKIT_CRASH_AT": "replica.apply.journaled:1"])
        let shipping = try campaign.startAgent([replica])
        XCTAssertTrue(campaign.wait(replica.process!, timeout: 30), "the replica died at its first batch")
        ProcessCluster.killHard(shipping)
        let journaled = campaign.cluster.directory.file("snapshot-journaled")
        try copyStore(campaign.cluster.store(replica.name), to: journaled)
        let snapshots = [whole, journaled]
        let work = campaign.cluster.directory.file("store")
        let out = campaign.cluster.directory.file("promoted")
        // What an uninterrupted promotion of each gives, and the points it passes.
        var reference: [UInt64] = []
        var histograms: [[String: Int]] = []
        var durations: [Double] = []
        for snapshot in snapshots {
            try copyStore(snapshot, to: work)
            unlink(out)
            let start = Date()
            let promote = try CLI.run(
                ["replica", "promote", "--store", work, "--out", out, "--json"],
                environment: CrashCampaign.Plan.calibrate.environment, timeout: 120)
            durations.append(Date().timeIntervalSince(start))
            XCTAssertEqual(promote.status, 0, promote.stderr)
            histograms.append(CrashCampaign.histogram(promote.stderr))
            // Crash points are named on stderr; stdout is the promotion alone.
            let promotion = try JSONDecoder().decode(
                ReplicaStore.Promotion.self, from: Data(promote.stdout.utf8))
            reference.append(
                try XCTUnwrap(
                    campaign.checkPromotedPool(out, transaction: promotion.transaction, what: snapshot)))
        }
        XCTAssertNotNil(histograms[1]["replica.replay.started"], "calibration replayed: \(histograms[1])")
        XCTAssertNotNil(
            histograms[0]["replica.promote.chunk"], "calibration wrote the pool: \(histograms[0])")
        var runs = 0
        while campaign.killCount < wanted && campaign.violations.isEmpty {
            runs += 1
            guard runs <= 4 * wanted else {
                return campaign.violation("only \(campaign.killCount) kills in \(runs) runs")
            }
            let which = runs % 2
            try copyStore(snapshots[which], to: work)
            unlink(out)
            let plan = campaign.draw(histograms[which], prefix: "replica.", timerLimit: durations[which])
            let promote = try campaign.cluster.launch(
                "pmemctl", ["replica", "promote", "--store", work, "--out", out, "--json"], label: "promote",
                environment: plan.environment)
            let killedAt = campaign.finish(promote, label: "promote", plan: plan, timeout: 120)
            let expected = reference[which]
            if access(out, F_OK) == 0 {
                // Whatever is at the output path is a pool the application may open: it must be whole.
                let state = try ReplicaStore.readState(directory: work)
                let verify = try CLI.run(
                    executable: "repl-workload", ["verify", out], environment: ["PMEMKIT_HEAP_RELOCATE": "1"],
                    timeout: 120)
                campaign.expect(
                    verify.status == 0 && CrashCampaign.count(verify.stdout) == expected
                        && state.lastTransaction == expected + 1,
                    "\(plan) (killed at \(killedAt ?? "no point")) left a pool at the output path that is not "
                        + "the promoted copy: \(verify.stdout)\(verify.stderr)")
                continue
            }
            campaign.expect(killedAt != nil, "\(plan): an uninterrupted promotion wrote no pool")
            let rerun = try CLI.run(
                ["replica", "promote", "--store", work, "--out", out, "--json"], timeout: 120)
            guard
                campaign.expect(rerun.status == 0, "\(plan): promoting again after the kill: \(rerun.stderr)")
            else {
                continue
            }
            let promotion = try JSONDecoder().decode(
                ReplicaStore.Promotion.self, from: Data(rerun.stdout.utf8))
            let count = try campaign.checkPromotedPool(
                out, transaction: promotion.transaction, what: "the rerun")
            campaign.expect(
                count == expected, "\(plan): the rerun promoted \(count ?? 0) nodes, expected \(expected)")
        }
    }

    /// Copies a (stopped) store directory, holes kept (its pool and journal are sparse).
    private func copyStore(_ source: String, to destination: String) throws {
        try? FileManager.default.removeItem(atPath: destination)
        let copy = try ProcessCluster.shell(["/bin/cp", "-a", "--sparse=always", source, destination])
        XCTAssertEqual(copy.status, 0, copy.output)
    }
}
