import Foundation
import PMemScan
import TestSupport
import XCTest

/// C++ translation units: classes and structs written with ostream::write, fwrite
/// and write, read with istream::read, fread and read; and the cases the analysis
/// cannot follow, which fail with one line instead of an empty report.
final class CPlusPlusTests: XCTestCase {
    private let directory = TemporaryDirectory()

    func testClassesWrittenAndReadThroughStreamsStdioAndPosixCallsAreFound() throws {
        let report = try Fixtures.analyze(["cpp_records.cpp"])
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertEqual(
            report.types.map(\.name),
            [
                "class journal::Checkpoint", "struct Footer", "struct Superblock",
                "struct journal::Checkpoint::Stamp", "struct journal::Entry",
            ])
        let checkpoint = try XCTUnwrap(report.type(named: "class journal::Checkpoint"))
        XCTAssertEqual(checkpoint.kind, "class")
        XCTAssertEqual(checkpoint.size, 24)
        XCTAssertEqual(checkpoint.pointerFields, [PointerField(path: "head", offset: 16)])
        XCTAssertEqual(checkpoint.evidence.map(\.site), ["basic_ostream::write"])
        let entry = try XCTUnwrap(report.type(named: "struct journal::Entry"))
        XCTAssertEqual(entry.pointerOffsets, [8])
        XCTAssertEqual(
            Set(entry.evidence.map { "\($0.access.rawValue) \($0.site)" }), ["read fread", "write fwrite"])
        XCTAssertEqual(report.type(named: "struct Footer")?.evidence.map(\.site), ["basic_istream::read"])
        XCTAssertEqual(report.type(named: "struct Superblock")?.evidence.map(\.access), [.read])
        XCTAssertEqual(report.type(named: "struct journal::Checkpoint::Stamp")?.pointerOffsets, [8])
        XCTAssertNil(report.type(named: "class Store"), "the handle owning the file is not written")
    }

    func testACompilationDatabaseEntryCompiledWithACPlusPlusCompilerIsParsedAsCPlusPlus() throws {
        // The same code in a `.h`: only the compiler says it is C++.
        let header = directory.file("records.h")
        try FileManager.default.copyItem(atPath: Fixtures.path("cpp_records.cpp"), toPath: header)
        let database = directory.file("compile_commands.json")
        let entries: [[String: Any]] = [
            ["directory": directory.path, "file": "records.h", "arguments": ["clang++", "-c", "records.h"]]
        ]
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: database))
        let report = try PersistenceAnalyzer(input: ScanInput(compileCommands: database)).run()
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertEqual(report.types.count, 5)
        XCTAssertNotNil(report.type(named: "class journal::Checkpoint"))
    }

    func testCPlusPlusParsedAsCFailsWithOneLineInsteadOfAnEmptyReport() throws {
        let header = directory.file("records.h")
        try FileManager.default.copyItem(atPath: Fixtures.path("cpp_records.cpp"), toPath: header)
        let result = try CLI.run(["analyze", header])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stdout, "")
        let last = try XCTUnwrap(result.stderr.split(separator: "\n").last)
        XCTAssertTrue(
            last.hasPrefix(
                "pmemctl: analyze: no persistent types found, and the sources did not parse cleanly ("),
            String(last))
        XCTAssertTrue(
            last.hasSuffix("check the flags (-I, -D, --compile-commands) and the language"), String(last))
    }

    func testBlockIOOnlyInsideATemplateFailsNamingTheTemplate() throws {
        let path = Fixtures.path("cpp_template_io.cpp")
        let report = try Fixtures.analyze(["cpp_template_io.cpp"])
        XCTAssertEqual(report.types, [])
        XCTAssertEqual(report.templatesNotAnalyzed.map(\.name), ["save"])
        XCTAssertEqual(report.templatesNotAnalyzed.map(\.calls), [["write"]])
        let result = try CLI.run(["analyze", path])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(
            result.stderr,
            "pmemctl: warning: \(path):12: template save calls write; templates are not instantiated by the analysis\n"
                + "pmemctl: analyze: no persistent types found; the block I/O is in C++ templates, which the "
                + "analysis does not instantiate (save at \(path):12 calls write)\n")
    }

    func testTheEmittedHeaderCompilesAsCPlusPlusWithTheClasses() throws {
        let header = directory.file("records_types.h")
        let source = Fixtures.path("cpp_records.cpp")
        let run = try CLI.run(["analyze", "--emit-c", header, source])
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOfFile: header, encoding: .utf8)
        XCTAssertTrue(text.contains("offsetof(class journal::Checkpoint, head) == 16"), text)
        XCTAssertTrue(
            text.contains("{\"struct journal::Checkpoint::Stamp\", sizeof(struct journal::Checkpoint::Stamp)")
        )
        let unit = directory.file("unit.cpp")
        let program = """
            #include "\(source)"
            #include "\(header)"
            int use_types(pmk_heap *heap)
            {
            \tuint32_t ids[CPP_RECORDS_TYPE_COUNT];
            \treturn cpp_records_register_types(heap, ids);
            }

            """
        try Data(program.utf8).write(to: URL(fileURLWithPath: unit))
        let compiled = try Compiler.run(
            [
                "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I",
                EmitCHeaderTests.apiInclude, unit,
            ],
            executable: "c++")
        XCTAssertEqual(compiled.status, 0, compiled.stderr)
    }
}
