import Foundation
import PMemReplication
import TestSupport
import XCTest

/// The invariants the campaign checks after each kill and recovery. The
/// workload's history is deterministic: commit 1 makes the root, commit
/// 1 + k pushes node k (value k, every field derived from k), so a pool
/// holding a prefix of it holds exactly nodes 1...k, and its last heap
/// transaction is k + 1.
extension CrashCampaign {
    /// The primary after a crash: `pmemctl heap check` on the pool as the
    /// crash left it (recovery replayed in a private view), then the
    /// workload's verify, which opens it (recovery) and checks every node's
    /// every field (no torn transaction), then the checker again. Returns
    /// the list's length, `nil` after a violation.
    func checkPrimary() throws -> UInt64? {
        let crashed = try CLI.run(["heap", "check", cluster.pool], timeout: 120)
        expect(
            crashed.status == 0,
            "pmemctl heap check of the crashed primary: \(crashed.stdout)\(crashed.stderr)")
        let verify = try CLI.run(executable: "repl-workload", ["verify", cluster.pool], timeout: 120)
        guard expect(verify.status == 0, "the primary's list after recovery: \(verify.stderr)") else {
            return nil
        }
        let recovered = try CLI.run(["heap", "check", cluster.pool], timeout: 120)
        expect(
            recovered.status == 0, "pmemctl heap check after recovery: \(recovered.stdout)\(recovered.stderr)"
        )
        return Self.count(verify.stdout)
    }

    /// Promotes the (stopped) store of replica `name` to a new pool, as a
    /// failover would, and checks it (`checkPromotedPool`). Returns the
    /// list's length, `nil` after a violation.
    func checkPromoted(_ name: String) throws -> UInt64? {
        let out = cluster.directory.file("\(name).promoted")
        unlink(out)
        defer { unlink(out) }
        let promote = try CLI.run(
            ["replica", "promote", "--store", cluster.store(name), "--out", out, "--json"], timeout: 120)
        guard expect(promote.status == 0, "promoting \(name): \(promote.stderr)") else { return nil }
        let promotion = try JSONDecoder().decode(ReplicaStore.Promotion.self, from: Data(promote.stdout.utf8))
        return try checkPromotedPool(out, transaction: promotion.transaction, what: name)
    }

    /// A promoted pool opened at a new base (every pointer relocated): its
    /// list is exactly the workload's first k pushes, every field of every
    /// node as pushed, the heap checker finds it consistent, and k agrees
    /// with `transaction`, the store's last applied transaction (k + 1).
    /// Returns k, `nil` after a violation.
    func checkPromotedPool(_ path: String, transaction: UInt64, what: String) throws -> UInt64? {
        let verify = try CLI.run(
            executable: "repl-workload", ["verify", path], environment: ["PMEMKIT_HEAP_RELOCATE": "1"],
            timeout: 120)
        guard expect(verify.status == 0, "\(what)'s promoted pool: \(verify.stderr)") else { return nil }
        expect(verify.stdout.contains("relocated=true"), "\(what)'s promoted pool was not relocated")
        let check = try CLI.run(["heap", "check", path], timeout: 120)
        expect(
            check.status == 0, "pmemctl heap check of \(what)'s promoted pool: \(check.stdout)\(check.stderr)"
        )
        guard let count = Self.count(verify.stdout) else {
            violation("\(what)'s promoted pool: no count in \(verify.stdout)")
            return nil
        }
        expect(
            transaction == count + 1,
            "\(what) says its last transaction is \(transaction) but its copy holds \(count) pushes "
                + "(commit 1 made the root, each later one pushed one node)")
        return count
    }

    /// No record is reclaimed before every replica durably applied it:
    /// the log's reclaim point is at most one past the least applied sequence.
    func checkReclaim(_ replicas: [Replica]) throws {
        let point = try LogRegion.open(path: cluster.log).reclaimPoint()
        let applied = try replicas.map { try cluster.state($0.name).appliedSequence }
        expect(
            point.sequence <= applied.min()! + 1,
            "the log reclaims from \(point.sequence) while a replica applied only \(applied)")
    }

    /// The `count=N` a workload verify printed.
    static func count(_ output: String) -> UInt64? {
        output.split(separator: " ").first { $0.hasPrefix("count=") }.flatMap { UInt64($0.dropFirst(6)) }
    }
}
