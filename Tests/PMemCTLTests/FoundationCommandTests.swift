import Foundation
import TestSupport
import XCTest

/// The foundation commands' contract: output fields and exit codes.
final class FoundationCommandTests: XCTestCase {
    var scratch: String!

    override func setUp() {
        scratch = NSTemporaryDirectory() + "pmemctl-test-\(getpid())-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: scratch, contents: Data(count: 1 << 20))
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    func testListJSONHasTheContractShape() throws {
        let r = try CLI.run(["list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let buses = try XCTUnwrap(json["buses"] as? [[String: Any]])
        for bus in buses {
            XCTAssertNotNil(bus["provider"] as? String)
            XCTAssertNotNil(bus["dimms"] as? [Any])
            for region in try XCTUnwrap(bus["regions"] as? [[String: Any]]) {
                for key in [
                    "name", "type", "size", "available_size", "persistence_domain", "deep_flush",
                    "numa_node", "mappings", "namespaces",
                ] {
                    XCTAssertTrue(region.keys.contains(key), key)
                }
            }
        }
    }

    func testListWithoutNVDIMMsSaysSoAndSucceeds() throws {
        let listed = try CLI.run(["list", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any]
        guard (json?["buses"] as? [Any])?.isEmpty == true else {
            throw XCTSkip("this machine has NVDIMM buses; the no-NVDIMM message cannot be seen here")
        }
        let r = try CLI.run(["list"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("No NVDIMM"), r.stdout)
    }

    func testUnknownModeIsAUsageError() throws {
        assertUsageError(
            try CLI.run(["create-namespace", "--region", "region0", "--mode", "bogus"]), mentions: "bogus")
    }

    func testBadSizeTextIsAUsageError() throws {
        assertUsageError(
            try CLI.run(["create-namespace", "--region", "region0", "--mode", "raw", "--size", "12Q"]),
            mentions: "'12Q' is not a size")
    }

    func testRegionAndReconfigureAreExclusive() throws {
        assertUsageError(try CLI.run(["create-namespace", "--mode", "raw"]), mentions: "exactly one of")
    }

    func testMissingRegionIsAFailedOperation() throws {
        assertFailure(
            try CLI.run(["create-namespace", "--region", "region99", "--mode", "raw"]),
            mentions: "no region named region99")
    }

    func testDestroyNeedsANamespace() throws {
        assertUsageError(try CLI.run(["destroy-namespace"]), mentions: "<name>")
    }

    func testDestroyUnknownNamespaceFails() throws {
        assertFailure(
            try CLI.run(["destroy-namespace", "namespace99.9"]), mentions: "no namespace named namespace99.9")
    }

    func testFlushUnknownRegionFails() throws {
        assertFailure(try CLI.run(["flush", "--region", "region99"]), mentions: "no region named region99")
    }

    func testInfoOnAPlainFileSaysEmulatedAndTheFlushMethod() throws {
        let r = try CLI.run(["info", scratch])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("emulated"), r.stdout)
        XCTAssertTrue(r.stdout.contains("flush_method"), r.stdout)
        XCTAssertTrue(r.stdout.contains("sfence") || r.stdout.contains("msync"), r.stdout)
    }

    func testInfoJSONOnAPlainFileWithTheMsyncPolicy() throws {
        let r = try CLI.run(["info", "--json", scratch], environment: ["PMEMKIT_FILE_BACKING": "file"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["backing"] as? String, "file")
        XCTAssertEqual(json["flush_method"] as? String, "msync")
        XCTAssertEqual(json["is_pmem"] as? Bool, false)
    }

    func testInfoHonoursTheFlushOverrides() throws {
        let r = try CLI.run(
            ["info", "--json", scratch], environment: ["PMEMKIT_NO_CLWB": "1", "PMEMKIT_NO_CLFLUSHOPT": "1"])
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["flush_instruction"] as? String, "clflush")
        let eadr = try CLI.run(["info", "--json", scratch], environment: ["PMEMKIT_FORCE_EADR": "1"])
        XCTAssertTrue(eadr.stdout.contains("sfence only (eADR)"), eadr.stdout)
    }

    func testInfoListsTheOverridesInForce() throws {
        let r = try CLI.run(["info", "--json", scratch], environment: ["PMEMKIT_NO_CLWB": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let overrides = try XCTUnwrap(json["overrides"] as? [[String: Any]])
        XCTAssertEqual(overrides.map { $0["name"] as? String }, ["PMEMKIT_NO_CLWB"])
        let machine = try CLI.run(["info"], environment: ["PMEMKIT_MOVNT_THRESHOLD": "1K"])
        XCTAssertEqual(machine.status, 0, machine.stderr)
        XCTAssertTrue(machine.stdout.contains("PMEMKIT_MOVNT_THRESHOLD=1K"), machine.stdout)
        XCTAssertTrue(machine.stdout.contains("from 1024 bytes"), machine.stdout)
    }

    func testAMistypedOverrideIsAUsageErrorForEveryCommand() throws {
        assertUsageError(
            try CLI.run(["info", scratch], environment: ["PMEMKIT_NO_CLWD": "1"]),
            mentions: "did you mean PMEMKIT_NO_CLWB?")
        assertUsageError(
            try CLI.run(["list"], environment: ["PMEMKIT_FILE_BACKING": "disk"]),
            mentions: "PMEMKIT_FILE_BACKING=disk is not valid: use emulated, file")
    }

    func testInfoOnAMissingPathFails() throws {
        assertFailure(try CLI.run(["info", "/nonexistent/pool"]), mentions: "No such file")
    }

    func testInfoDoesNotWriteTheFile() throws {
        let before = try FileManager.default.attributesOfItem(atPath: scratch)[.modificationDate] as? Date
        _ = try CLI.run(["info", scratch])
        let after = try FileManager.default.attributesOfItem(atPath: scratch)[.modificationDate] as? Date
        XCTAssertEqual(before, after)
    }
}
