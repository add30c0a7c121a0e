import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// Leadership through a real etcd member: epochs, takeover only after the
/// old term surely ended, a primary superseded for good, and the client's
/// errors when etcd is not there.
final class EtcdLeadershipTests: XCTestCase {
    private func member() throws -> EtcdMember {
        if let why = EtcdMember.unavailable { XCTFail(why) }
        return try EtcdMember()
    }

    private func node(_ name: String, _ etcd: EtcdMember, ttl: Int = 2, prefix: String = "/pmemkit/t")
        throws -> Leadership
    {
        try Leadership(
            configuration: .init(
                endpoints: [try Endpoint(parsing: etcd.endpoint)], prefix: prefix, name: name, ttlSeconds: ttl
            ))
    }

    func testEpochsGrowAndOnlyTheLastLeaderMayLeadAgain() throws {
        let etcd = try member()
        let a = try node("a", etcd)
        let b = try node("b", etcd)
        guard case .won(let first) = try a.campaign(.primary) else {
            return XCTFail("the first primary leads")
        }
        XCTAssertGreaterThan(first.epoch, 0)
        XCTAssertEqual(try b.campaign(.takeover), .held(by: "a", epoch: first.epoch))
        XCTAssertEqual(try b.campaign(.primary), .held(by: "a", epoch: first.epoch))
        XCTAssertEqual(try a.leader()?.name, "a")

        try a.resign(first)
        XCTAssertNil(try a.leader())
        // Nobody leads and a led last: a may lead again, at a new epoch.
        guard case .won(let second) = try a.campaign(.primary) else { return XCTFail("a leads again") }
        XCTAssertGreaterThan(second.epoch, first.epoch)
        try a.resign(second)

        // b takes over; from then on a is superseded, whatever it tries.
        guard case .won(let third) = try b.campaign(.takeover) else { return XCTFail("b takes over") }
        XCTAssertGreaterThan(third.epoch, second.epoch)
        XCTAssertEqual(try a.campaign(.primary), .held(by: "b", epoch: third.epoch))
        try b.resign(third)
        XCTAssertEqual(try a.campaign(.primary), .superseded(by: "b"))
        // A renewal of a resigned term says leadership is gone.
        XCTAssertNil(try b.renew(third))
    }

    func testATakeoverWinsOnlyAfterTheOldTermSurelyEnded() throws {
        let etcd = try member()
        let a = try node("a", etcd)
        let b = try node("b", etcd)
        guard case .won(let term) = try a.campaign(.primary) else { return XCTFail("a leads") }
        let renewed = try XCTUnwrap(try a.renew(term), "a renewal of a live term keeps it")
        XCTAssertGreaterThanOrEqual(renewed.validUntil, term.validUntil)
        // a stops renewing (a frozen or cut-off primary). b campaigns until it wins.
        var won: Leadership.Term?
        let deadline = Date().addingTimeInterval(15)
        while won == nil && Date() < deadline {
            if case .won(let taken) = try b.campaign(.takeover) { won = taken } else { usleep(50_000) }
        }
        let taken = try XCTUnwrap(won, "b took over once a's lease expired")
        let wonAt = LeaseFence.monotonicNow()
        XCTAssertGreaterThanOrEqual(
            wonAt, renewed.validUntil, "no takeover while a could still believe it leads: two writers")
        XCTAssertGreaterThan(taken.epoch, renewed.epoch)
        XCTAssertNil(try a.renew(renewed), "a learns its term is gone")
    }

    func testUnreachableEtcdIsOneLineNamingEveryEndpoint() throws {
        let client = try EtcdClient(
            endpoints: [Endpoint(host: "127.0.0.1", port: 9), Endpoint(host: "127.0.0.1", port: 1)],
            requestTimeout: .milliseconds(300))
        XCTAssertThrowsError(try client.get("/x")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("no etcd endpoint answered"), text)
            XCTAssertTrue(text.contains("127.0.0.1:9") && text.contains("127.0.0.1:1"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
        XCTAssertThrowsError(try EtcdClient(endpoints: [])) {
            XCTAssertTrue("\($0)".contains("no etcd endpoint"))
        }
        XCTAssertThrowsError(
            try Leadership(
                configuration: .init(endpoints: [Endpoint(host: "h", port: 1)], prefix: "x", name: "a"))
        ) { XCTAssertTrue("\($0)".contains("must start with '/'"), "\($0)") }
        XCTAssertThrowsError(
            try Leadership(
                configuration: .init(
                    endpoints: [Endpoint(host: "h", port: 1)], prefix: "/p", name: "a", ttlSeconds: 1))
        ) { XCTAssertTrue("\($0)".contains("outside 2...3600"), "\($0)") }
    }

    func testASilentEndpointCostsTheTimeoutAndTheNextOneAnswers() throws {
        let etcd = try member()
        // A listener that accepts and never answers.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) == 0 }
        }
        listen(silent, 4)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let client = try EtcdClient(
            endpoints: [Endpoint(host: "127.0.0.1", port: port), try Endpoint(parsing: etcd.endpoint)],
            requestTimeout: .milliseconds(300))
        let started = Date()
        XCTAssertNil(try client.get("/nothing"))
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "one timeout, then the member answered")
        try client.put("/k", Array("v".utf8))
        XCTAssertEqual(try client.get("/k")?.value, Array("v".utf8))
    }
}
