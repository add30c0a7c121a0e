import Foundation
import Logging
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// Fencing with a real etcd member, in one process: the agent leads before
/// it ships, stamps its epoch, and the application's commits stop the
/// moment the term is gone; a replica that saw a newer epoch refuses the
/// stale primary and a promotion below it, across a restart.
final class EtcdFencingTests: XCTestCase {
    private let psk = try! PreSharedKey(bytes: [UInt8](repeating: 7, count: 32))

    private func agent(
        log: String, replica: Endpoint, etcd: EtcdMember, name: String = "primary",
        whenLost: HAAgent.Configuration.WhenLost = .stop
    ) throws -> HAAgent {
        var configuration = HAAgent.Configuration(
            logPath: log, replicas: [replica], psk: psk, controlSocket: log + ".sock")
        configuration.handlesSignals = false
        configuration.coordination = .init(
            leadership: .init(
                endpoints: [try Endpoint(parsing: etcd.endpoint)], prefix: "/pmemkit/fencing", name: name,
                ttlSeconds: 2),
            whenLost: whenLost)
        return try HAAgent(configuration: configuration, logger: quietLogger("fencing-test"))
    }

    func testCommitsNeedTheTermAndStopWhenItIsTakenAway() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let etcd = try EtcdMember()
        let dir = TemporaryDirectory()
        let store = try ReplicaStore(directory: dir.file("store"))
        let server = ReplicaServer(store: store, psk: psk, logger: quietLogger("fencing-test"))
        let replica = Endpoint(
            host: "127.0.0.1", port: try server.start(listening: Endpoint(host: "127.0.0.1", port: 0)))
        defer { try? server.close() }

        let list = try fencedList(pool: dir.file("pool"), log: dir.file("log"))
        // No agent leads yet: the first commit is refused, nothing committed.
        XCTAssertThrowsError(try list.push(1)) { error in
            XCTAssertTrue("\(error)".contains("commit refused: no agent leads"), "\(error)")
        }

        let running = AgentThread(try agent(log: dir.file("log"), replica: replica, etcd: etcd))
        try waitUntil("the agent leads") { list.replicator.writer.region.leaseFence.admits() }
        try list.push(50)
        let status = try running.agent.status()
        let epoch = try XCTUnwrap(status.leadership?.epoch)
        XCTAssertTrue(status.leadership?.leading ?? false)
        XCTAssertEqual(status.leadership?.transitions.map(\.event), ["campaigning", "leading"])
        try waitUntil("the replica holds the 50 commits") {
            store.state.lastTransaction >= 51 && store.state.epoch == epoch
        }

        // An operator (or a split) deletes the leader key: the term is gone.
        let client = try EtcdClient(endpoints: [try Endpoint(parsing: etcd.endpoint)])
        let key = try XCTUnwrap(try client.get("/pmemkit/fencing/leader"))
        XCTAssertEqual(UInt64(key.createRevision), epoch, "the epoch is the leader key's create revision")
        _ = try client.transaction(compare: [], success: [.delete("/pmemkit/fencing/leader")], failure: [])
        try waitUntil("the application's commits are refused") {
            do {
                try list.push(1)
                return false
            } catch { return "\(error)".contains("lapsed") }
        }
        XCTAssertTrue(running.ended(within: 10), "the agent stops (whenLost: .stop)")
        XCTAssertTrue(
            "\(running.failure.map { "\($0)" } ?? "")".contains("leadership lost at epoch \(epoch)"))
        XCTAssertFalse(list.replicator.writer.region.leaseFence.admits())
        try list.close()
    }

    func testAReplicaRefusesAStalePrimaryAndAStalePromotionAcrossARestart() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let etcd = try EtcdMember()
        let dir = TemporaryDirectory()
        // The replica already followed a newer primary (an epoch far above any etcd revision here).
        do {
            let store = try ReplicaStore(directory: dir.file("store"))
            try store.admit(epoch: 1_000_000)
            XCTAssertThrowsError(try store.admit(epoch: 999_999)) { error in
                XCTAssertTrue(
                    "\(error)".contains("is stale: this replica has seen epoch 1000000"), "\(error)")
            }
        }
        try serveAStalePrimary(dir, etcd)
        let promoted = try ReplicaStore(directory: dir.file("store"), mode: .existingOnly)
        XCTAssertThrowsError(try promoted.promote(to: dir.file("out"), epoch: 5)) { error in
            XCTAssertTrue("\(error)".contains("promotion at epoch 5 refused"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out")))
    }

    /// Serves the store in `dir` (epoch 1,000,000 seen) to an agent leading at a lower epoch.
    private func serveAStalePrimary(_ dir: TemporaryDirectory, _ etcd: EtcdMember) throws {
        let store = try ReplicaStore(directory: dir.file("store"))
        XCTAssertEqual(store.state.epoch, 1_000_000, "the epoch survives a restart")
        let server = ReplicaServer(store: store, psk: psk, logger: quietLogger("fencing-test"))
        let replica = Endpoint(
            host: "127.0.0.1", port: try server.start(listening: Endpoint(host: "127.0.0.1", port: 0)))
        let list = try fencedList(pool: dir.file("pool"), log: dir.file("log"))
        let running = AgentThread(try agent(log: dir.file("log"), replica: replica, etcd: etcd))
        try waitUntil("the agent leads") { list.replicator.writer.region.leaseFence.admits() }
        try list.push(10)
        try waitUntil("the replica refused the stale primary") {
            try running.agent.status().replicas[0].lastError?.contains("is stale") ?? false
        }
        XCTAssertEqual(store.state.appliedSequence, 0, "nothing of the stale primary applied")
        running.agent.stop()
        XCTAssertTrue(running.ended(within: 10))
        try server.close()
        try list.close()
    }

    func testAnAgentSupersededByAnotherLeaderDoesNotLead() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let etcd = try EtcdMember()
        let other = try Leadership(
            configuration: .init(
                endpoints: [try Endpoint(parsing: etcd.endpoint)], prefix: "/pmemkit/fencing",
                name: "replica-b",
                ttlSeconds: 2))
        guard case .won(let term) = try other.campaign(.takeover) else { return XCTFail("b leads") }
        let dir = TemporaryDirectory()
        let list = try fencedList(pool: dir.file("pool"), log: dir.file("log"))
        let agent = try agent(log: dir.file("log"), replica: Endpoint(host: "127.0.0.1", port: 9), etcd: etcd)
        XCTAssertThrowsError(try agent.run()) { error in
            XCTAssertTrue("\(error)".contains("replica-b leads at epoch \(term.epoch)"), "\(error)")
        }
        XCTAssertThrowsError(try list.push(1), "no commit without leadership")
        try list.close()
    }
}
