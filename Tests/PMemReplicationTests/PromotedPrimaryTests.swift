import Foundation
import Logging
import PMemHeap
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// A takeover by hand, with a real etcd member: primary A ships to
/// replicas R1 and R2; A resigns; R1's node takes the leader key, promotes
/// its copy at the new epoch and runs the application and its agent on it
/// (the term handed over, no second campaign); R2 switches to the promoted
/// primary's new log, takes its baseline and follows; A can neither lead
/// again nor feed R2.
final class PromotedPrimaryTests: XCTestCase {
    private let psk = try! PreSharedKey(bytes: [UInt8](repeating: 5, count: 32))

    /// A replica store served on loopback.
    private final class Replica {
        let store: ReplicaStore
        let server: ReplicaServer
        let endpoint: Endpoint

        init(_ directory: String, psk: PreSharedKey, logger: Logger) throws {
            store = try ReplicaStore(directory: directory)
            server = ReplicaServer(store: store, psk: psk, logger: logger)
            endpoint = Endpoint(
                host: "127.0.0.1", port: try server.start(listening: Endpoint(host: "127.0.0.1", port: 0)))
        }
    }

    private func agent(
        log: String, replicas: [Endpoint], etcd: EtcdMember, name: String, term: Leadership.Term? = nil
    ) throws -> HAAgent {
        var configuration = HAAgent.Configuration(
            logPath: log, replicas: replicas, psk: psk, controlSocket: log + ".sock")
        configuration.handlesSignals = false
        configuration.coordination = .init(
            leadership: .init(
                endpoints: [try Endpoint(parsing: etcd.endpoint)], prefix: "/pmemkit/promoted", name: name,
                ttlSeconds: 2),
            term: term)
        return try HAAgent(configuration: configuration, logger: quietLogger("promoted-test"))
    }

    func testAPromotedReplicaLeadsAndTheOtherReplicaFollowsItsNewLog() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let etcd = try EtcdMember()
        let dir = TemporaryDirectory()
        let r1 = try Replica(dir.file("r1"), psk: psk, logger: quietLogger("promoted-test"))
        let r2 = try Replica(dir.file("r2"), psk: psk, logger: quietLogger("promoted-test"))

        // Primary A: 300 commits shipped to both replicas at epoch e1.
        let a = try fencedList(pool: dir.file("a.pool"), log: dir.file("a.log"))
        let agentA = AgentThread(
            try agent(log: dir.file("a.log"), replicas: [r1.endpoint, r2.endpoint], etcd: etcd, name: "a"))
        try waitUntil("A leads") { a.replicator.writer.region.leaseFence.admits() }
        try a.push(300)
        let e1 = try XCTUnwrap(try agentA.agent.status().leadership?.epoch)
        try waitUntil("both replicas hold A's 300 commits") {
            r1.store.state.lastTransaction >= 301 && r2.store.state.lastTransaction >= 301
        }
        // A goes away (its agent resigns when it stops; its application can no longer commit).
        XCTAssertTrue(agentA.stop())
        XCTAssertThrowsError(try a.push(1))
        try a.close()

        // R1's node takes over at e2 and promotes its copy at e2.
        let node = try Leadership(
            configuration: .init(
                endpoints: [try Endpoint(parsing: etcd.endpoint)], prefix: "/pmemkit/promoted", name: "r1",
                ttlSeconds: 2))
        guard case .won(let term) = try node.campaign(.takeover) else { return XCTFail("r1 takes over") }
        XCTAssertGreaterThan(term.epoch, e1)
        try r1.server.close()
        let promotion = try r1.store.promote(to: dir.file("b.pool"), epoch: term.epoch)
        XCTAssertEqual(promotion.transaction, 301)

        // The application runs on the promoted pool with a new log; its agent renews r1's term.
        let b = try fencedList(pool: dir.file("b.pool"), log: dir.file("b.log"))
        let agentB = AgentThread(
            try agent(log: dir.file("b.log"), replicas: [r2.endpoint], etcd: etcd, name: "r1", term: term))
        try waitUntil("B leads at the term r1 won") { b.replicator.writer.region.leaseFence.admits() }
        XCTAssertEqual(try agentB.agent.status().leadership?.epoch, term.epoch)
        try b.push(40)
        try waitUntil("R2 switched to B's log and holds its 40 new commits") {
            r2.store.state.logUUID == b.replicator.writer.region.uuid
                && r2.store.state.lastTransaction >= b.heap.lastCommittedSequence
        }
        XCTAssertEqual(r2.store.state.epoch, term.epoch)

        // A cannot lead again, and R2 refuses it.
        let staleA = try agent(log: dir.file("a.log"), replicas: [r2.endpoint], etcd: etcd, name: "a")
        XCTAssertThrowsError(try staleA.run()) { error in
            XCTAssertTrue("\(error)".contains("r1 leads at epoch \(term.epoch)"), "\(error)")
        }

        XCTAssertTrue(agentB.stop())
        let count = b.heap.lastCommittedSequence
        try b.close()
        try r2.server.close()
        let copy = try r2.store.promote(to: dir.file("r2.pool"), epoch: term.epoch + 1)
        XCTAssertEqual(copy.transaction, count)
        let heap = try PersistentHeap.open(path: dir.file("r2.pool"))
        XCTAssertEqual(try verifiedCount(heap), 340, "R2 holds A's 300 and B's 40, whole")
        try heap.close()
    }
}
