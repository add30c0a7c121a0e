import Foundation
import PMemScan
import TestSupport
import XCTest

/// Inputs nested deep enough to exhaust a thread's stack: libclang and the
/// analysis recurse once per level, and 100,000 levels used to kill
/// `pmemctl analyze` with SIGSEGV and no message. Now each gets a one-line
/// error (deeper than the analysis follows) or a normal result.
final class DeepInputTests: XCTestCase {
    private let levels = 100_000

    /// Writes `text` to a file in `dir` and returns its path.
    private func source(_ dir: TemporaryDirectory, _ name: String, _ text: String) throws -> String {
        let path = dir.file(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testDeeplyNestedExpressionsAndStatementsAreRefusedWithOneLine() throws {
        let dir = TemporaryDirectory()
        let n = levels
        let inputs = [
            (
                "parens.c",
                "int f(void) { return " + String(repeating: "(", count: n) + "1"
                    + String(repeating: ")", count: n) + "; }\n"
            ),
            (
                "structs.c",
                (0..<n).map { "struct s\($0) { " }.joined() + "int x; "
                    + (0..<n - 1).reversed().map { "} m\($0); " }.joined() + "};\n"
            ),
            ("nots.c", "int f(int a) { return " + String(repeating: "!", count: n) + "a; }\n"),
            ("sum.c", "int f(int a) { return a" + String(repeating: "+a", count: n) + "; }\n"),
            ("ifs.c", "void f(int a) { " + String(repeating: "if (a) ", count: n) + "a++; }\n"),
        ]
        for (name, text) in inputs {
            let path = try source(dir, name, text)
            let r = try CLI.run(["analyze", path], timeout: 120)
            assertFailure(r, mentions: "\(path):1: nested or chained about")
            XCTAssertThrowsError(try PersistenceAnalyzer(input: ScanInput(files: [path])).run()) { error in
                guard case .nestedTooDeep(_, _, let depth, let limit)? = error as? ScanError else {
                    return XCTFail("\(error)")
                }
                XCTAssertGreaterThan(depth, limit)
            }
        }
    }

    func testAChainOfRecordsEachEmbeddingTheLastIsAnalyzed() throws {
        let dir = TemporaryDirectory()
        // Each record holds the one before it by value: libclang lays out the last one
        // by recursing down the whole chain, unless the inner layouts are done first.
        var text = "#include <unistd.h>\nstruct t0 { int x; };\n"
        for i in 1..<levels { text += "struct t\(i) { struct t\(i - 1) a; };\n" }
        text += "void save(int fd) { struct t\(levels - 1) v; write(fd, &v, sizeof v); }\n"
        let path = try source(dir, "chain.c", text)
        let r = try CLI.run(["analyze", "--json", path], timeout: 240)
        XCTAssertEqual(r.status, 0, r.stderr)
        let document = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let types = try XCTUnwrap(document["types"] as? [[String: Any]])
        XCTAssertTrue(types.contains { $0["name"] as? String == "struct t\(levels - 1)" })
    }

    func testNestingJustBelowTheLimitIsAnalyzedNormally() throws {
        let dir = TemporaryDirectory()
        let n = 9_000
        let inputs = [
            ("nots.c", "int f(int a) { return " + String(repeating: "!", count: n) + "a; }\n"),
            ("assign.c", "int f(int a) { int b; b" + String(repeating: "=b", count: n) + "=a; return b; }\n"),
            (
                "elseif.c",
                "void f(int a) { if (a == 0) a++; "
                    + (1..<n).map { "else if (a == \($0)) a++; " }.joined() + "}\n"
            ),
        ]
        for (name, text) in inputs {
            let r = try CLI.run(["analyze", try source(dir, name, text)], timeout: 120)
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("persistent types in 1 files"), "\(name): \(r.stdout)")
        }
    }
}
