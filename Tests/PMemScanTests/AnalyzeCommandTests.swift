import Foundation
import TestSupport
import XCTest

/// `pmemctl analyze` as a user runs it: exit codes, stdout JSON, one-line errors.
final class AnalyzeCommandTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> CLIResult {
        try CLI.run(arguments)
    }

    func testJSONFollowsTheContract() throws {
        let result = try run(["analyze", "--json", Fixtures.path("direct_writes.c")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let document = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let types = try XCTUnwrap(document["types"] as? [[String: Any]])
        XCTAssertEqual(
            Set(types.compactMap { $0["name"] as? String }),
            [
                "struct footer", "struct journal_entry", "struct superblock", "struct trailer",
                "struct version",
            ])
        let superblock = try XCTUnwrap(types.first { $0["name"] as? String == "struct superblock" })
        XCTAssertEqual(superblock["kind"] as? String, "struct")
        XCTAssertEqual(superblock["size"] as? Int, 24)
        XCTAssertEqual(superblock["pointer_offsets"] as? [Int], [16])
        let evidence = try XCTUnwrap((superblock["evidence"] as? [[String: Any]])?.first)
        XCTAssertEqual(evidence["site"] as? String, "pwrite")
        XCTAssertEqual(evidence["access"] as? String, "write")
        XCTAssertEqual(evidence["line"] as? Int, 44)
        XCTAssertEqual(evidence["file"] as? String, Fixtures.path("direct_writes.c"))
    }

    func testTimingLinesNameEveryPhaseOnlyWhenAsked() throws {
        let file = Fixtures.path("direct_writes.c")
        let quiet = try run(["analyze", "--json", file])
        XCTAssertFalse(quiet.stderr.contains("pmemscan timing"), quiet.stderr)
        let timed = try CLI.run(["analyze", "--json", file], environment: ["PMEMSCAN_TIMING": "1"])
        XCTAssertEqual(timed.status, 0, timed.stderr)
        XCTAssertEqual(timed.stdout, quiet.stdout, "timing changes nothing on stdout")
        let phases = timed.stderr.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard words.count >= 5, line.hasPrefix("pmemscan timing: "), words[4] == "ms" else { return nil }
            XCTAssertNotNil(Double(words[3]), String(line))
            return String(words[2])
        }
        for phase in [
            "jobs", "parse", "walk", "merge", "points-to", "reachability", "hits", "selection", "wall",
        ] {
            XCTAssertTrue(phases.contains(phase), "\(phase) missing from \(timed.stderr)")
        }
    }

    func testTextOutputListsEachTypeWithItsTypedef() throws {
        let result = try run(["analyze", Fixtures.path("direct_writes.c")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("struct journal_entry / journal_entry_t"), result.stdout)
        XCTAssertTrue(result.stdout.contains("5 persistent types in 1 files"), result.stdout)
    }

    func testHeapDescriptorsAreTheDocumentedJSON() throws {
        let result = try run(["analyze", "--heap-descriptors", Fixtures.path("unions_and_pointers.c")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let document = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let types = try XCTUnwrap(document["types"] as? [[String: Any]])
        let root = try XCTUnwrap(types.first { $0["name"] as? String == "struct tree_root" })
        XCTAssertEqual(Set(root.keys), ["name", "size", "alignment", "pointer_offsets"])
        XCTAssertEqual(root["alignment"] as? Int, 8)
        XCTAssertEqual(root["pointer_offsets"] as? [Int], [16, 24, 40, 48, 56, 64, 72])
    }

    func testIncludeAndDefineFlagsReachTheParser() throws {
        let file = Fixtures.path("generated_header.c")
        let withStub = try run(["analyze", "--json", "-I", Fixtures.path("stub-include"), file])
        XCTAssertEqual(withStub.status, 0, withStub.stderr)
        XCTAssertTrue(withStub.stdout.contains("struct stamp"))
        XCTAssertEqual(withStub.stderr, "")
        let withDefine = try run(["analyze", "--json", "-D", "HAVE_PWRITE=1", file])
        XCTAssertEqual(withDefine.status, 0, withDefine.stderr)
        XCTAssertTrue(withDefine.stdout.contains("struct stamp"))
    }

    func testJoinedCompilerSpellingsWorkToo() throws {
        let file = Fixtures.path("generated_header.c")
        for flags in [["-I" + Fixtures.path("stub-include")], ["-DHAVE_PWRITE"], ["-DHAVE_PWRITE=1"]] {
            let result = try run(["analyze", "--json"] + flags + [file])
            XCTAssertEqual(result.status, 0, "\(flags): \(result.stderr)")
            XCTAssertTrue(result.stdout.contains("struct stamp"), "\(flags)")
        }
    }

    func testABadDefineIsAUsageErrorNamingIt() throws {
        let result = try run(["analyze", "-D=1", "-D", "", Fixtures.path("wrappers.c")])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(
            result.stderr, "pmemctl: bad -D '': expected NAME or NAME=VALUE (see pmemctl --help)\n")
    }

    func testAMissingHeaderWarnsOnStderrAndStillSucceeds() throws {
        let result = try run(["analyze", "--json", Fixtures.path("generated_header.c")])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("'config.h' file not found"), result.stderr)
        XCTAssertTrue(result.stdout.contains("settings_t"))
    }

    func testAMissingSourceFileExitsOneWithOneLine() throws {
        let result = try run(["analyze", "/nonexistent/app.c"])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr, "pmemctl: analyze: no such source file: /nonexistent/app.c\n")
        XCTAssertEqual(result.stdout, "")
    }

    func testNoInputIsAUsageErrorExitingTwo() throws {
        let result = try run(["analyze"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("--compile-commands"), result.stderr)
    }

    func testAnUnknownOptionIsAUsageErrorExitingTwo() throws {
        let result = try run(["analyze", "--frobnicate", Fixtures.path("wrappers.c")])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
    }

    func testSpecialFilesAreRefusedWithOneLineNotReadForEver() throws {
        let dir = TemporaryDirectory()
        let fifo = dir.makeFIFO("fifo.c")
        for (path, kind) in [
            (fifo, "a FIFO"), ("/dev/zero", "a character device"), (dir.path, "a directory"),
        ] {
            assertFailure(
                try CLI.run(["analyze", path], timeout: 30),
                mentions: "\(path) is \(kind), not a regular file")
        }
        assertFailure(
            try CLI.run(["analyze", "--compile-commands", fifo], timeout: 30),
            mentions: "\(fifo) is a FIFO, not a regular file")
    }

    func testJobsMustBeAtLeastOneAndAnyCountGivesTheSameOutput() throws {
        let bad = try run(["analyze", "--jobs", "0", Fixtures.path("wrappers.c")])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--jobs must be at least 1, not 0"), bad.stderr)
        let files = ["wrappers.c", "direct_writes.c", "io_table.c"].map(Fixtures.path)
        let one = try run(["analyze", "--json", "--jobs", "1"] + files)
        let three = try run(["analyze", "--json", "-j", "3"] + files)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(three.stdout, one.stdout)
    }

    func testAnEmitCPrefixWithoutEmitCIsAUsageError() throws {
        let result = try run(["analyze", "--emit-c-prefix", "kv", Fixtures.path("wrappers.c")])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("--emit-c-prefix names what --emit-c writes"), result.stderr)
    }
}
