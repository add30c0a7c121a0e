import Foundation
import TestSupport
import XCTest

/// `pmemctl analyze --emit-c`: the header compiles together with the program
/// it describes, names nested pointers as C does, and turns layout drift into
/// a compile error.
final class EmitCHeaderTests: XCTestCase {
    private let directory = TemporaryDirectory()

    /// tools/demo-app/kvstore.c, the demo's block-based key-value store.
    private static let kvstore = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../tools/demo-app/kvstore.c").standardized.path

    /// Where pmemkit.h lives in this repository.
    static let apiInclude = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../CShims/CPMemKitAPI/include").standardized.path

    /// Runs `pmemctl analyze --emit-c` into the temporary directory; returns the header path and the run.
    private func emit(_ source: String, _ extra: [String] = [], header: String = "types.h") throws
        -> (path: String, run: CLIResult)
    {
        let path = directory.file(header)
        return (path, try CLI.run(["analyze", "--emit-c", path] + extra + [source]))
    }

    /// Compiles a C file that includes `sources`, then the emitted `headers`, and calls each
    /// header's registration function; returns the compiler's status and messages.
    private func compile(
        _ sources: [String], headers: [(path: String, prefix: String)], flags: [String] = []
    ) throws -> CLIResult {
        var text = sources.map { "#include \"\($0)\"" } + headers.map { "#include \"\($0.path)\"" }
        text.append("int use_types(pmk_heap *heap);")
        text.append("int use_types(pmk_heap *heap)\n{")
        for header in headers {
            let count = "\(header.prefix.uppercased())_TYPE_COUNT"
            text.append("\t{ uint32_t ids[\(count)]; int s = \(header.prefix)_register_types(heap, ids);")
            text.append("\t  if (s != PMK_OK) return s; }")
        }
        text.append("\treturn PMK_OK;\n}")
        let unit = directory.file("unit.c")
        try Data(text.joined(separator: "\n").appending("\n").utf8).write(to: URL(fileURLWithPath: unit))
        return try Compiler.run(
            [
                "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                "-I", Self.apiInclude,
            ] + flags + [unit])
    }

    func testTheKVStoreHeaderCompilesWithTheProgramAndRegistersItsTwoTypes() throws {
        let (header, run) = try emit(Self.kvstore)
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOfFile: header, encoding: .utf8)
        XCTAssertTrue(text.contains("KVSTORE_TYPE_kv_entry,"), text)
        XCTAssertTrue(text.contains("KVSTORE_TYPE_kv_header,"), text)
        XCTAssertTrue(text.contains("offsetof(struct kv_entry, next) == 32"), text)
        XCTAssertTrue(text.contains("static inline int kvstore_register_types(pmk_heap *heap"), text)
        let compiled = try compile([Self.kvstore], headers: [(header, "kvstore")])
        XCTAssertEqual(compiled.status, 0, compiled.stderr)
    }

    func testNestedRecordsPointerArraysAndAnonymousMembersAreNamedAsCNamesThem() throws {
        let (header, run) = try emit(Fixtures.path("emit_layouts.c"))
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOfFile: header, encoding: .utf8)
        let expected = [
            "first.owner", "extents[0].owner", "extents[1].owner", "slots[0]", "slots[1]", "slots[2]",
            "cookie",
        ]
        for (path, offset) in zip(expected, [16, 32, 48, 56, 64, 72, 80]) {
            XCTAssertTrue(text.contains("offsetof(struct inode, \(path)) == \(offset),"), "\(path)\n\(text)")
        }
        XCTAssertFalse(text.contains("on_change"), "function pointers are not relocated")
        XCTAssertTrue(text.contains("sizeof(volume_header) == 16"), text)
        XCTAssertTrue(text.contains("offsetof(volume_header, label) == 8"), text)
        let compiled = try compile([Fixtures.path("emit_layouts.c")], headers: [(header, "emit_layouts")])
        XCTAssertEqual(compiled.status, 0, compiled.stderr)
    }

    func testATypeDeclaredInsideAFunctionIsLeftOutWithAWarningNamingIt() throws {
        let report = try Fixtures.analyze(["emit_layouts.c"])
        XCTAssertNotNil(report.type(named: "struct journal_mark"), "the analysis itself reports it")
        let (header, run) = try emit(Fixtures.path("emit_layouts.c"))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(
            run.stderr,
            "pmemctl: warning: --emit-c leaves out struct journal_mark: declared inside a function, "
                + "out of a header's reach\n")
        XCTAssertFalse(try String(contentsOfFile: header, encoding: .utf8).contains("journal_mark"))
    }

    func testALayoutChangedAfterEmittingIsACompileErrorThatSaysSo() throws {
        let (header, run) = try emit(Fixtures.path("emit_layouts.c"))
        XCTAssertEqual(run.status, 0, run.stderr)
        let compiled = try compile(
            [Fixtures.path("emit_layouts.c")], headers: [(header, "emit_layouts")], flags: ["-DGROW_INODE"])
        XCTAssertNotEqual(compiled.status, 0)
        XCTAssertTrue(
            compiled.stderr.contains(
                "struct inode changed since `pmemctl analyze --emit-c` ran: its size is not 96"),
            compiled.stderr)
        XCTAssertTrue(compiled.stderr.contains("first.owner is not at offset 16"), compiled.stderr)
    }

    func testDescriptorNamesAreTheHeapDescriptorNames() throws {
        let source = Fixtures.path("emit_layouts.c")
        let (header, run) = try emit(source)
        XCTAssertEqual(run.status, 0, run.stderr)
        let descriptors = try CLI.run(["analyze", "--heap-descriptors", source])
        let document = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(descriptors.stdout.utf8)) as? [String: Any])
        let names = try XCTUnwrap(document["types"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        let text = try String(contentsOfFile: header, encoding: .utf8)
        let table = text.components(separatedBy: "_types[EMIT_LAYOUTS_TYPE_COUNT] = {\n")[1]
            .components(separatedBy: "\n};")[0]
        let emitted = table.split(separator: "\n").map { $0.split(separator: "\"")[1] }.map(String.init)
        XCTAssertEqual(emitted, names.filter { $0 != "struct journal_mark" })
        XCTAssertEqual(emitted, ["struct extent", "struct inode", "volume_header"])
    }

    func testTwoEmittedHeadersWithTheirOwnPrefixesCoexistInOneProgram() throws {
        let kv = try emit(Self.kvstore, ["--emit-c-prefix", "kv"], header: "kv.h")
        XCTAssertEqual(kv.run.status, 0, kv.run.stderr)
        let fs = try emit(Fixtures.path("emit_layouts.c"), ["--emit-c-prefix", "fs"], header: "fs.h")
        XCTAssertEqual(fs.run.status, 0, fs.run.stderr)
        let compiled = try compile(
            [Self.kvstore, Fixtures.path("emit_layouts.c")], headers: [(kv.path, "kv"), (fs.path, "fs")])
        XCTAssertEqual(compiled.status, 0, compiled.stderr)
    }

    func testAPrefixThatIsNotACIdentifierIsAUsageError() throws {
        let run = try CLI.run([
            "analyze", "--emit-c", directory.file("x.h"), "--emit-c-prefix", "9lives", Self.kvstore,
        ])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("the C prefix '9lives' is not a C identifier"), run.stderr)
    }

    func testAProgramWithNoPersistentTypesIsAOneLineFailureAndNoHeader() throws {
        let source = directory.file("nothing.c")
        try Data("int main(void)\n{\n\treturn 0;\n}\n".utf8).write(to: URL(fileURLWithPath: source))
        let (header, run) = try emit(source)
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(
            run.stderr, "pmemctl: analyze: nothing to emit as C: the analysis found no persistent types\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: header))
    }
}
