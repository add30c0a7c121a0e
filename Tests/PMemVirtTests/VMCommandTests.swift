import Foundation
import TestSupport
import XCTest

/// `pmemctl vm run`: the JSON contract and the exit codes.
final class VMCommandTests: XCTestCase {
    private func pmemctl(_ arguments: [String]) throws -> CLIResult {
        try CLI.run(arguments)
    }

    func testRunPrintsTheContractKeysAsJSON() throws {
        _ = try KVMGate.kvm()
        let r = try pmemctl([
            "vm", "run", "--vcpus", "2", "--fha-policy", "trap", "--iterations", "25", "--json",
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        for key in [
            "policy", "vcpus", "guest_flushes", "fha_exits", "propagations", "ns_per_flush",
            "backing_regions",
        ] {
            XCTAssertNotNil(object?[key], "missing \(key)")
        }
        XCTAssertEqual(object?["policy"] as? String, "trap")
        XCTAssertEqual(object?["vcpus"] as? Int, 2)
        XCTAssertEqual(object?["guest_flushes"] as? Int, 50)
        XCTAssertEqual(object?["fha_exits"] as? Int, 50)
    }

    func testBadUsageExitsTwoWithOneLine() throws {
        for arguments in [["vm", "run", "--fha-policy", "sometimes"], ["vm", "run", "--vcpus", "0"]] {
            let r = try pmemctl(arguments)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }

    func testAGuestFailureExitsOneWithOneLineNamingIt() throws {
        _ = try KVMGate.kvm()
        let r = try pmemctl(["vm", "run", "no-such-guest"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("no-such-guest"), r.stderr)
    }
}
