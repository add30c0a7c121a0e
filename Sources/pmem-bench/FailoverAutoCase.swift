import Foundation
import PMemKit
import PMemReplication

/// What the rounds of `failover-auto` found, for its extra fields.
private final class FailoverTally {
    var cluster: FailoverCluster?
    var round = 0
    var lostCommits: UInt64 = 0
    var returnedNotReplicated: UInt64 = 0
    var staleCommits: UInt64 = 0
    var staleCommitsInARound: UInt64 = 0
    var rejoined = 0
    var byFailure: [MachineFailure: [Double]] = [:]
}

extension ReplicationSuite {
    /// `failover-auto`: a replica set of three `pmemctl ha node` processes
    /// and an etcd member, each on a host of its own (network namespaces,
    /// when run as root; loopback otherwise). Each round fails the primary's
    /// machine (killed, frozen, or its links cut, in turn) and measures the
    /// time to the promoted application's first commit; then brings the old
    /// primary back and waits until it rejoined as a replica. Extra fields:
    /// `lease_ttl_ms`; `lost_commits`, the most acknowledged commits (by
    /// every replica, the quorum) a round's new primary lacked;
    /// `returned_not_replicated`, the most commits that had returned to the
    /// old application but reached no replica (asynchronous replication's
    /// window: what a failure may lose); `stale_commits` (and the most in
    /// one round, `stale_commits_max_round`), commits the old application
    /// completed after its successor began: the fence admits no new
    /// transaction after the term's bound, so each round allows at most the
    /// one that was in flight when the machine froze or stalled, local to
    /// the old pool (moved aside) and never replicated; and, from the
    /// final pool's history (every commit stamped with its epoch and writer),
    /// `two_writer_epochs` and `epoch_regressions`.
    func failoverAutoCase() -> BenchCase? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") else {
            FileHandle.standardError.write(
                Data(
                    "pmem-bench: failover-auto skipped: /usr/bin/etcd is missing (tools/setup replication)\n"
                        .utf8))
            return nil
        }
        let ttlSeconds = 2
        let tally = FailoverTally()
        let directory = "\(self.directory)/failover-auto"
        return BenchCase(
            name: "failover-auto", unitCount: 1,
            ours: {
                do {
                    if tally.cluster == nil {
                        tally.cluster = try FailoverCluster(directory: directory, ttlSeconds: ttlSeconds)
                    }
                    let cluster = tally.cluster!
                    let failures: [MachineFailure] =
                        cluster.hosts == nil ? [.kill, .freeze] : MachineFailure.allCases
                    let failure = failures[tally.round % failures.count]
                    tally.round += 1
                    let elapsed = try Self.failoverRound(cluster, failure, tally)
                    tally.byFailure[failure, default: []].append(Double(elapsed) / 1e6)
                    return elapsed
                } catch {
                    tally.cluster?.shutdown()
                    tally.cluster = nil
                    throw error
                }
            },
            baselineName: nil, baseline: nil,
            extra: { _, _ in
                var fields: [String: Double] = [
                    "lease_ttl_ms": Double(ttlSeconds * 1000), "lost_commits": Double(tally.lostCommits),
                    "returned_not_replicated": Double(tally.returnedNotReplicated),
                    "stale_commits": Double(tally.staleCommits),
                    "stale_commits_max_round": Double(tally.staleCommitsInARound),
                    "rounds": Double(tally.round), "rejoined": Double(tally.rejoined),
                    "namespaces": tally.cluster?.hosts == nil ? 0 : 1,
                ]
                for (failure, times) in tally.byFailure {
                    fields["failover_\(failure.rawValue)_ms"] = times.sorted()[times.count / 2]
                }
                if let cluster = tally.cluster {
                    tally.cluster = nil
                    for (key, value) in Self.history(cluster) { fields[key] = value }
                }
                return fields
            })
    }

    /// One round: fail the primary, time the takeover to its application's
    /// first commit, count acknowledged commits the new primary lacks, bring
    /// the old primary back and wait until it serves as a replica again.
    private static func failoverRound(
        _ cluster: FailoverCluster, _ failure: MachineFailure, _ tally: FailoverTally
    ) throws -> UInt64 {
        var primary = ""
        try cluster.wait("a primary commits", timeout: 60) {
            primary = FailoverCluster.names.first { cluster.lastEvent($0) == "primary" } ?? ""
            return !primary.isEmpty && cluster.progress(primary) > 0
        }
        let others = FailoverCluster.names.filter { $0 != primary }
        // Replicas in step: following the primary's log at its epoch, out of
        // any baseline, and 500 transactions further than when the round began.
        let epoch = cluster.transitions(primary).last?.epoch ?? 0
        let began = try others.map { try cluster.state($0).lastTransaction }
        try cluster.wait("every replica follows the primary's new commits", timeout: 60) {
            try zip(others, began).allSatisfy { name, start in
                let state = try cluster.state(name)
                return !state.inBaseline && state.epoch == epoch && state.lastTransaction > start + 500
            }
        }
        for other in others { cluster.clearProgress(other) }
        let failedAt = nowNs()
        try cluster.fail(primary, failure)
        var successor = ""
        try cluster.wait("a replica took over and its application committed", timeout: 60) {
            successor = others.first { cluster.lastEvent($0) == "primary" && cluster.progress($0) > 0 } ?? ""
            return !successor.isEmpty
        }
        let elapsed = nowNs() - failedAt
        let oldProgress = cluster.progress(primary)
        // What every replica acknowledged before the failure: the old log's reclaim point.
        let acknowledged = try LogRegion.open(path: cluster.logPath(primary)).reclaimPoint().transaction
        let promoted = cluster.transitions(successor).last { $0.event == "promoted" }?.transaction ?? 0
        tally.lostCommits = max(tally.lostCommits, acknowledged > promoted ? acknowledged - promoted : 0)
        // Commits that returned to the old application but reached no replica
        // before its machine failed (asynchronous replication's window): the
        // old application's last push against the list the new one found.
        let found = cluster.listLengthAtStart(successor)
        tally.returnedNotReplicated = max(
            tally.returnedNotReplicated, oldProgress > found ? oldProgress - found : 0)
        try cluster.repair(primary, failure)
        try cluster.wait("the old primary \(primary) rejoined as a replica", timeout: 60) {
            cluster.lastEvent(primary) == "replica"
        }
        tally.rejoined += 1
        // The old application, thawed or reconnected, admitted nothing after the new primary began.
        let after = cluster.progress(primary)
        let stale = after > oldProgress ? after - oldProgress : 0
        tally.staleCommits += stale
        tally.staleCommitsInARound = max(tally.staleCommitsInARound, stale)
        return elapsed
    }

    /// Stops the set and checks the final primary's pool: who wrote each commit, at which epoch.
    private static func history(_ cluster: FailoverCluster) -> [String: Double] {
        let primary = FailoverCluster.names.first { cluster.lastEvent($0) == "primary" }
        cluster.shutdown()
        // Earlier terms' files kept aside, the most on one node (ha node keeps one pool and one log).
        let files = (try? FileManager.default.contentsOfDirectory(atPath: cluster.directory)) ?? []
        let aside = FailoverCluster.names.map { name in
            files.filter { $0.hasPrefix("\(name).") && $0.contains(".before-epoch-") }.count
        }
        guard let primary else { return ["history_checked": 0] }
        let verify = Process()
        verify.executableURL = URL(
            fileURLWithPath: URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
                .deletingLastPathComponent().appendingPathComponent("repl-workload").path)
        verify.arguments = ["verify", cluster.poolPath(primary)]
        let pipe = Pipe()
        verify.standardOutput = pipe
        guard (try? verify.run()) != nil else { return ["history_checked": 0] }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        var fields: [String: Double] = [
            "history_checked": verify.terminationStatus == 0 ? 1 : 0,
            "aside_files_max": Double(aside.max() ?? 0),
        ]
        for word in text.split(whereSeparator: \.isWhitespace) {
            let pair = word.split(separator: "=")
            guard pair.count == 2, let value = Double(pair[1]) else { continue }
            switch pair[0] {
            case "count": fields["history_commits"] = value
            case "epochs": fields["history_epochs"] = value
            case "two_writer_epochs": fields["two_writer_epochs"] = value
            case "epoch_regressions": fields["epoch_regressions"] = value
            default: break
            }
        }
        return fields
    }
}
