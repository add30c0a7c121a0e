import Foundation
import TestSupport
import XCTest

@testable import PMemScan

/// Units parsed on several threads, with shared precompiled system headers, give
/// the same report as one thread parsing every header itself.
final class ParallelAnalysisTests: XCTestCase {
    private let directory = TemporaryDirectory()

    /// The JSON of each part of a report (every type, the diagnostics, the counts):
    /// the whole output a user sees, compared part by part so a failure names the part.
    private func parts(_ input: ScanInput) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let report = try PersistenceAnalyzer(input: input).run()
        var parts: [String: String] = [:]
        for type in report.types {
            parts[type.name] = String(decoding: try encoder.encode(type), as: UTF8.self)
        }
        parts["diagnostics"] = String(decoding: try encoder.encode(report.diagnostics), as: UTF8.self)
        parts["templates"] = String(decoding: try encoder.encode(report.templatesNotAnalyzed), as: UTF8.self)
        parts["counts"] = "\(report.translationUnits) units, \(report.lines) lines"
        return parts
    }

    /// Compares the report of one thread without precompiled headers with those of
    /// 2 and 4 threads with them.
    private func assertSameReport(_ files: [String], file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        var serial = ScanInput(files: files, threads: 1)
        serial.precompileSystemHeaders = false
        let expected = try parts(serial)
        for threads in [2, 4] {
            let parallel = try parts(ScanInput(files: files, threads: threads))
            XCTAssertEqual(
                Set(parallel.keys).symmetricDifference(expected.keys).sorted(), [],
                "\(threads) threads: parts only one has",
                file: file, line: line)
            for (name, text) in expected where parallel[name] != text {
                XCTFail(
                    "\(threads) threads: \(name) differs:\n\(text)\n\(parallel[name] ?? "-")", file: file,
                    line: line)
            }
        }
    }

    /// Modules that open with the same system includes and share a header with an inline writer.
    private func modules(_ count: Int) throws -> [String] {
        let shared = directory.file("shared.h")
        try Data(
            """
            #include <unistd.h>
            struct shared_hdr { unsigned magic; void *owner; };
            static inline int write_hdr(int fd, const struct shared_hdr *h) { return (int)write(fd, h, sizeof *h); }

            """.utf8
        ).write(to: URL(fileURLWithPath: shared))
        return try (0..<count).map { n in
            let path = directory.file("module\(n).c")
            let text = """
                /* module \(n) */
                #include <stdint.h>
                #include <stdio.h>
                #include <string.h>
                #include <unistd.h>
                #include "shared.h"

                struct rec\(n) { uint64_t key; char name[16]; struct rec\(n) *next; };
                struct handle\(n) { int fd; struct rec\(n) *cache; };

                int save\(n)(struct handle\(n) *h, const struct rec\(n) *r)
                {
                    struct shared_hdr hdr = { 1, 0 };
                    if (write_hdr(h->fd, &hdr) < 0) return -1;
                    return pwrite(h->fd, r, sizeof *r, 0) < 0 ? -1 : 0;
                }

                """
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    func testModulesSharingSystemHeadersGiveTheSameReportOnAnyThreadCount() throws {
        let files = try modules(6)
        try assertSameReport(files)
        let report = try PersistenceAnalyzer(input: ScanInput(files: files, threads: 3)).run()
        XCTAssertEqual(
            report.types.map(\.name),
            [
                "struct rec0", "struct rec1", "struct rec2", "struct rec3", "struct rec4",
                "struct rec5", "struct shared_hdr",
            ])
        XCTAssertEqual(report.diagnostics, [])
        XCTAssertEqual(report.translationUnits, 6)
    }

    func testTheModulesShareOnePrecompiledHeader() throws {
        let files = try modules(3)
        let jobs = try ScanInput(files: files).jobs()
        let shared = SharedSystemHeaders(jobs: jobs)
        XCTAssertEqual(shared.groupedJobs, 3)
        let index = ClangIndex()
        let arguments = (0..<3).map { shared.arguments(forJob: $0, index: index) }
        XCTAssertEqual(arguments.map(\.first), Array(repeating: "-include-pch", count: 3))
        XCTAssertEqual(Set(arguments.map(\.last)).count, 1, "one PCH for the group")
    }

    func testTheFixtureCorpusGivesTheSameReportOnAnyThreadCount() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.path)
            .filter { $0.hasSuffix(".c") || $0.hasSuffix(".cpp") }.sorted()
        XCTAssertGreaterThan(names.count, 10)
        try assertSameReport(names.map(Fixtures.path))
    }

    func testOnlyTheOpeningSystemIncludesArePrecompiled() {
        let text = """
            /* a comment */
            #include <stdio.h>
            // another
            #  include <string.h>  /* trailing */
            #define _GNU_SOURCE
            #include <fcntl.h>
            """
        XCTAssertEqual(LeadingSystemIncludes.of(text: text), ["#include <stdio.h>", "#include <string.h>"])
        XCTAssertEqual(LeadingSystemIncludes.of(text: "#include \"config.h\"\n#include <stdio.h>\n"), [])
        XCTAssertEqual(
            LeadingSystemIncludes.of(text: "#include <stdio.h>\r\n#include<string.h>\r\nint x;\r\n"),
            ["#include <stdio.h>", "#include <string.h>"])
        XCTAssertEqual(
            LeadingSystemIncludes.of(text: "/* x\n#include <a.h>\n*/\n#include <b.h>\n"), ["#include <b.h>"])
    }

    func testAUnitThatDefinesAMacroFirstIsParsedWithoutThePrecompiledHeader() throws {
        let files = try modules(2)
        let gnu = directory.file("gnu.c")
        try Data("#define _GNU_SOURCE\n#include <stdint.h>\n#include <stdio.h>\n".utf8).write(
            to: URL(fileURLWithPath: gnu))
        let jobs = try ScanInput(files: files + [gnu]).jobs()
        let shared = SharedSystemHeaders(jobs: jobs)
        XCTAssertEqual(shared.groupedJobs, 2)
        XCTAssertEqual(shared.arguments(forJob: 2, index: ClangIndex()), [])
    }
}
