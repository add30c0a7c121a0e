import Foundation
import PMemHeap
import TestSupport
import XCTest

/// `pmemctl heap` (contract): create, info, check, stats, `--json`, exit codes 0/1/2.
final class HeapCommandTests: XCTestCase {
    private func json(_ result: CLIResult) throws -> [String: Any] {
        try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
    }

    func testCreateInfoStatsAndCheckAHealthyPool() throws {
        let pool = try scratchDirectory(self) + "/pool"
        let created = try CLI.run(["heap", "create", pool, "--size", "16M", "--json"])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertEqual(try json(created)["size"] as? Int, 16 << 20)
        let heap = try PersistentHeap.open(path: pool)
        try buildList(heap, [1, 2, 3])
        try heap.close()

        let info = try json(try CLI.run(["heap", "info", pool, "--json"]))
        XCTAssertEqual(info["clean_shutdown"] as? Bool, true)
        XCTAssertEqual(info["relocation_pending"] as? Bool, false)
        XCTAssertEqual(info["root_type"] as? String, "test.ListRoot")
        let types = try XCTUnwrap(info["types"] as? [[String: Any]])
        XCTAssertEqual(
            types.first { $0["name"] as? String == "test.Node" }?["pointer_offsets"] as? [Int], [8])

        let stats = try json(try CLI.run(["heap", "stats", pool, "--json"]))
        XCTAssertEqual(stats["objects"] as? Int, 4)

        let check = try CLI.run(["heap", "check", pool, "--json"])
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertEqual(try json(check)["healthy"] as? Bool, true)
        XCTAssertEqual(try json(check)["reachable"] as? Int, 4)
        XCTAssertEqual(try CLI.run(["heap", "check", pool]).status, 0)
    }

    func testCreateRegistersTheAnalyzersTypes() throws {
        let dir = try scratchDirectory(self)
        let descriptors = dir + "/types.json"
        try Data(
            #"{"types":[{"name":"struct kv_entry","size":40,"alignment":8,"pointer_offsets":[32]}]}"#.utf8
        ).write(to: URL(fileURLWithPath: descriptors))
        let created = try CLI.run(["heap", "create", dir + "/pool", "--size", "16M", "--types", descriptors])
        XCTAssertEqual(created.status, 0, created.stderr)
        let types = try XCTUnwrap(
            try json(try CLI.run(["heap", "info", dir + "/pool", "--json"]))["types"] as? [[String: Any]])
        let entry = try XCTUnwrap(types.first { $0["name"] as? String == "struct kv_entry" })
        XCTAssertEqual(entry["pointer_offsets"] as? [Int], [32])
        XCTAssertEqual(entry["size"] as? Int, 40)

        // A bad descriptor file is reported and leaves no pool behind.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: descriptors))
        assertFailure(
            try CLI.run(["heap", "create", dir + "/other", "--size", "16M", "--types", descriptors]),
            mentions: "read type descriptions")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/other"))
    }

    func testCheckFailsWithOneLineNamingTheProblem() throws {
        let pool = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: pool, size: 8 << 20)
        let root = try buildList(heap, [1, 2])
        root.pointee.head.pointee.next = PersistentPointer(UnsafeMutablePointer(bitPattern: 0x1234_0000))
        try heap.close()
        let check = try CLI.run(["heap", "check", pool])
        assertFailure(check, mentions: "outside the pool")
    }

    func testDamagedPoolIsAFailedOperationNotACrash() throws {
        let pool = try scratchDirectory(self) + "/pool"
        try Data(repeating: 0xab, count: 1 << 20).write(to: URL(fileURLWithPath: pool))
        for command in ["info", "check", "stats"] {
            assertFailure(try CLI.run(["heap", command, pool]), mentions: "not a PMemHeap pool")
        }
    }

    func testAMissingPoolIsNamedByEveryCommand() throws {
        let pool = try scratchDirectory(self) + "/absent"
        for arguments in [["info"], ["check"], ["check", "--recover"], ["stats"]] {
            let result = try CLI.run(["heap"] + arguments + [pool])
            assertFailure(result, mentions: "\(pool): No such file or directory")
            XCTAssertFalse(result.stderr.contains("stat:"), "the open names it, not a lookup before it")
        }
    }

    func testInfoShowsNoShutdownCountsOffPMem() throws {
        let pool = try scratchDirectory(self) + "/pool"
        try PersistentHeap.create(path: pool, size: 8 << 20).close()
        let info = try CLI.run(["heap", "info", pool])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(
            info.stdout.contains("none recorded (no device under the pool counts unsafe shutdowns)"),
            info.stdout)
        XCTAssertTrue(info.stdout.contains("unsafe shutdown       none detected"), info.stdout)
        let json = try CLI.run(["heap", "info", "--json", pool])
        let document = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((document["shutdown_counts"] as? [Any])?.count, 0)
        XCTAssertTrue(document["unsafe_shutdown"] == nil || document["unsafe_shutdown"] is NSNull)
        let check = try CLI.run(["heap", "check", "--json", pool])
        let report = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        XCTAssertTrue(report["media_errors"] is NSNull, "no bad media off PMem")
    }

    func testBadUsageExitsTwo() throws {
        let pool = try scratchDirectory(self) + "/pool"
        assertUsageError(try CLI.run(["heap", "create", pool, "--size", "lots"]), mentions: "not a size")
        assertUsageError(try CLI.run(["heap", "create", pool]), mentions: "--size")
    }

    func testSizesNearTwoToTheSixtyThreeFailWithOneLineNotATrap() throws {
        let pool = try scratchDirectory(self) + "/pool"
        for option in ["--size", "--slab-size", "--log-size"] {
            let size = option == "--size" ? "9223372036854775808" : "16M"
            var arguments = ["heap", "create", pool, "--size", size]
            if option != "--size" { arguments += [option, "9223372036854775808"] }
            assertUsageError(try CLI.run(arguments), mentions: "is too large")
        }
        // Parsed, but more than any pool can be: refused before any arithmetic on it.
        assertFailure(
            try CLI.run(["heap", "create", pool, "--size", "9223372036854775807"]), mentions: "pool size")
        assertFailure(
            try CLI.run(["heap", "create", pool, "--size", "16M", "--log-size", "9223372036854775807"]),
            mentions: "log size")
        assertFailure(
            try CLI.run(["heap", "create", pool, "--size", "16M", "--slab-size", "9223372036854775807"]),
            mentions: "slab size")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pool))
    }

    func testCreateRefusesAnExistingFile() throws {
        let pool = try scratchDirectory(self) + "/pool"
        XCTAssertEqual(try CLI.run(["heap", "create", pool, "--size", "8M"]).status, 0)
        assertFailure(try CLI.run(["heap", "create", pool, "--size", "8M"]), mentions: "already exists")
    }

    func testCheckRecoverRelocatesWithProgressAndStaysHealthy() throws {
        let pool = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: pool, size: 8 << 20)
        try buildList(heap, Array(0..<500))
        try heap.close()
        let before = try json(try CLI.run(["heap", "info", pool, "--json"]))["base"] as? String
        let recovered = try CLI.run(
            ["heap", "check", "--recover", pool], environment: ["PMEMKIT_HEAP_RELOCATE": "1"])
        XCTAssertEqual(recovered.status, 0, recovered.stderr)
        XCTAssertTrue(recovered.stderr.contains("relocating:"), recovered.stderr)
        let after = try json(try CLI.run(["heap", "info", pool, "--json"]))["base"] as? String
        XCTAssertNotEqual(before, after)
    }
}
