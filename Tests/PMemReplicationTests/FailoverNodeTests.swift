import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// A failover node in this process, with a real etcd member: what it does
/// when its application cannot start, and how it stops.
final class FailoverNodeTests: XCTestCase {
    func testAnApplicationThatCannotStartGivesTheTermUpAndTheNodeServes() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let etcd = try EtcdMember()
        let dir = TemporaryDirectory()
        let leadership = Leadership.Configuration(
            endpoints: [try Endpoint(parsing: etcd.endpoint)], prefix: "/pmemkit/node-test", name: "a",
            ttlSeconds: 2)
        var configuration = FailoverNode.Configuration(
            leadership: leadership, storeDirectory: dir.file("store"),
            listen: Endpoint(host: "127.0.0.1", port: 0), peers: [Endpoint(host: "127.0.0.1", port: 9)],
            psk: try PreSharedKey(bytes: [UInt8](repeating: 3, count: 32)), poolPath: dir.file("pool"),
            logPath: dir.file("log"), application: "echo cannot start >&2; exit 3")
        configuration.startAsPrimary = true
        let metricsPort = try Loopback.freePort()
        configuration.metricsEndpoint = Endpoint(host: "127.0.0.1", port: metricsPort)
        let node = try FailoverNode(configuration: configuration, logger: quietLogger("node-test"))
        let ended = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? node.run()
            ended.signal()
        }
        try waitUntil("the node serves as a replica") { node.transitions.contains { $0.event == "replica" } }
        let events = node.transitions.map(\.event)
        XCTAssertEqual(Array(events.prefix(4)), ["campaigning", "lost", "demoted", "replica"])
        let lost = try XCTUnwrap(node.transitions.first { $0.event == "lost" })
        XCTAssertTrue(lost.detail.contains("exited (status 3) before it attached"), lost.detail)
        XCTAssertGreaterThan(lost.epoch, 0)
        XCTAssertNil(
            try Leadership(configuration: leadership).leader(), "the term was given up, not left to expire")
        // A scrape in the replica role: the node's own series.
        let text = try XCTUnwrap(Loopback.get("/metrics", port: metricsPort), "the node answers scrapes")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 OK"), text)
        XCTAssertTrue(text.contains("pmemkit_failover_primary 0"), text)
        XCTAssertTrue(text.contains("pmemkit_failover_transitions_total 4"), text)
        // With no pool copy it cannot take over, and it does not pretend to.
        usleep(600_000)
        XCTAssertFalse(node.transitions.contains { $0.event == "took-over" })
        node.stop()
        XCTAssertEqual(ended.wait(timeout: .now() + 10), .success, "the node stops")
        XCTAssertEqual(node.transitions.last?.event, "stopped")
        // The status file says the same, for `pmemctl ha node-status` after the node ended.
        let status = try NodeStatus.read(store: dir.file("store") + "/")
        XCTAssertEqual(status.role, .stopped)
        XCTAssertEqual(status.transitions, node.transitions)
        let shown = try CLI.run(["ha", "node-status", "--store", dir.file("store")])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.hasPrefix("node a (pid \(getpid())): stopped"), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("exited (status 3) before it attached"), shown.stdout)
    }

    func testNodeStatusOfNoNodeOrAJunkFileIsOneLine() throws {
        let dir = TemporaryDirectory()
        assertFailure(
            try CLI.run(["ha", "node-status", "--store", dir.file("none")]), mentions: "none.node.json")
        try Data("{\"node\": 1}".utf8).write(to: URL(fileURLWithPath: dir.file("junk.node.json")))
        assertFailure(
            try CLI.run(["ha", "node-status", "--store", dir.file("junk")]),
            mentions: "is not a node's status file")
    }
}
