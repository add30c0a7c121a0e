import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// How failover nodes rank one another: by the history their store holds
/// (the epoch), then how far along it, the smaller name between equals;
/// positions live in etcd under each member's own lease.
final class MemberRankingTests: XCTestCase {
    private func position(_ name: String, epoch: UInt64, transaction: UInt64) -> MemberPosition {
        MemberPosition(
            name: name, epoch: epoch, lastTransaction: transaction, appliedSequence: transaction + 3)
    }

    func testALaterHistoryOutranksALongerOlderOne() {
        let newer = position("c", epoch: 9, transaction: 10)
        let older = position("a", epoch: 5, transaction: 50_000)
        XCTAssertTrue(newer.outranks(older))
        XCTAssertFalse(older.outranks(newer))
    }

    func testWithinAnEpochTheFurthestWinsAndTiesGoToTheSmallerName() {
        let ahead = position("b", epoch: 5, transaction: 101)
        let behind = position("a", epoch: 5, transaction: 100)
        XCTAssertTrue(ahead.outranks(behind))
        let twin = position("c", epoch: 5, transaction: 101)
        XCTAssertTrue(ahead.outranks(twin))
        XCTAssertFalse(twin.outranks(ahead))
        XCTAssertFalse(ahead.outranks(ahead), "a member does not outrank itself")
        // Every member finds the same best one, whatever order it lists them in.
        let members = [behind, twin, ahead, position("d", epoch: 4, transaction: 900)]
        for order in [members, members.reversed(), members.shuffled()] {
            XCTAssertEqual(order.max { $1.outranks($0) }?.name, "b")
        }
    }

    func testPositionsArePublishedUnderTheirLeaseAndWithdrawn() throws {
        if let why = EtcdMember.unavailable { return XCTFail(why) }
        let etcd = try EtcdMember()
        let client = try EtcdClient(endpoints: [try Endpoint(parsing: etcd.endpoint)])
        func registry(_ name: String) -> MemberRegistry {
            MemberRegistry(
                client: client,
                configuration: .init(
                    endpoints: [try! Endpoint(parsing: etcd.endpoint)], prefix: "/pmemkit/rank", name: name,
                    ttlSeconds: 2))
        }
        let a = registry("a")
        let b = registry("b")
        try a.publish(position("a", epoch: 3, transaction: 7))
        try b.publish(position("b", epoch: 3, transaction: 9))
        // A key of a neighbouring prefix is not a member.
        try client.put("/pmemkit/rank/membersX", Array("junk".utf8))
        try client.put("/pmemkit/rank/members/z", Array("not json".utf8))
        XCTAssertEqual(try a.positions().map(\.name), ["a", "b"], "undecodable values are left out")
        XCTAssertEqual(try a.positions().last?.lastTransaction, 9)
        try b.publish(position("b", epoch: 3, transaction: 12))
        XCTAssertEqual(try a.positions().last?.lastTransaction, 12, "a changed position is published again")
        b.withdraw()
        XCTAssertEqual(try a.positions().map(\.name), ["a"])
        let member = try XCTUnwrap(try client.get("/pmemkit/rank/members/a"))
        XCTAssertNotEqual(member.lease, 0, "a member's key lives under its lease")
    }
}
