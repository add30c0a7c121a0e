import Foundation
import PMemScan
import XCTest

/// Inputs: missing headers, stub include directories, macros, compilation databases, bad input.
final class ParsingTests: XCTestCase {
    func testAMissingHeaderIsReportedAndTheRestIsStillAnalyzed() throws {
        let report = try Fixtures.analyze(["generated_header.c"])
        XCTAssertTrue(report.diagnostics.contains { $0.message.contains("config.h") })
        XCTAssertEqual(report.types.map(\.name), ["settings_t"])
    }

    func testAStubIncludeDirectoryStandsInForTheGeneratedHeader() throws {
        let stub = Fixtures.path("stub-include")
        let report = try Fixtures.analyze(["generated_header.c"], includeDirectories: [stub])
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertEqual(Set(report.types.map(\.name)), ["settings_t", "struct stamp"])
    }

    func testDefinesSwitchConditionalCodeOn() throws {
        let report = try Fixtures.analyze(["generated_header.c"], defines: ["HAVE_PWRITE=1"])
        XCTAssertEqual(Set(report.types.map(\.name)), ["settings_t", "struct stamp"])
    }

    func testCompileCommandsSupplyFilesAndFlags() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pmemscan-cc-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database: [[String: Any]] = [
            [
                "directory": Fixtures.directory.path,
                "command": "cc -c -o gen.o -I stub-include -Wall generated_header.c",
                "file": "generated_header.c",
            ],
            [
                "directory": Fixtures.directory.path,
                "arguments": ["cc", "-c", "wrappers.c", "-o", "wrappers.o"],
                "file": "wrappers.c",
            ],
        ]
        let path = directory.appendingPathComponent("compile_commands.json")
        try JSONSerialization.data(withJSONObject: database).write(to: path)
        let report = try PersistenceAnalyzer(input: ScanInput(compileCommands: path.path)).run()
        XCTAssertEqual(report.translationUnits, 2)
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertEqual(
            Set(report.types.map(\.name)),
            ["settings_t", "struct stamp", "struct btree_node", "struct meta_page"])
    }

    func testAMissingSourceFileIsAnErrorNamingIt() {
        let input = ScanInput(files: ["/nonexistent/app.c"])
        XCTAssertThrowsError(try PersistenceAnalyzer(input: input).run()) { error in
            XCTAssertEqual(error as? ScanError, .fileNotFound("/nonexistent/app.c"))
        }
    }

    func testABrokenCompilationDatabaseIsAnErrorNamingIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-cc-\(getpid()).json")
        try Data("{\"not\": \"an array\"}".utf8).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        XCTAssertThrowsError(try PersistenceAnalyzer(input: ScanInput(compileCommands: path.path)).run()) {
            error in
            XCTAssertEqual(
                error as? ScanError,
                .badCompileCommands(path: path.path, reason: "not a JSON array of objects"))
        }
    }

    func testNoInputIsAnError() {
        XCTAssertThrowsError(try PersistenceAnalyzer(input: ScanInput()).run()) { error in
            XCTAssertEqual(error as? ScanError, .noInput)
        }
    }
}
