import Foundation
import PMemScan
import XCTest

/// Names, layouts and evidence of reported types.
final class ReportDetailTests: XCTestCase {
    func testTypedefNamesAreGivenBesideTheStructTag() throws {
        let report = try Fixtures.analyze(["direct_writes.c"])
        let entry = try XCTUnwrap(report.type(named: "struct journal_entry"))
        XCTAssertEqual(entry.typedefs, ["journal_entry_t"])
        XCTAssertEqual(entry.size, 80)
    }

    func testUntaggedRecordsAreNamedByTheirTypedef() throws {
        let report = try Fixtures.analyze(["generated_header.c"])
        XCTAssertEqual(report.types.map(\.name), ["settings_t"])
        XCTAssertEqual(report.types.first?.kind, "struct")
    }

    func testPointerOffsetsCoverEmbeddedRecordsAndPointerArrays() throws {
        let report = try Fixtures.analyze(["unions_and_pointers.c"])
        let root = try XCTUnwrap(report.type(named: "struct tree_root"))
        // entries[0].left/right, entries[1].left/right, index, spare[0], spare[1].
        XCTAssertEqual(root.pointerOffsets, [16, 24, 40, 48, 56, 64, 72])
        XCTAssertEqual(root.size, 80)
        XCTAssertEqual(root.alignment, 8)
        XCTAssertEqual(try XCTUnwrap(report.type(named: "union key")).kind, "union")
    }

    func testEvidenceNamesTheCallerLineAndTheSiteInsideTheWrapper() throws {
        let report = try Fixtures.analyze(["wrappers.c"])
        let node = try XCTUnwrap(report.type(named: "struct btree_node"))
        let evidence = try XCTUnwrap(node.evidence.first)
        XCTAssertEqual(evidence.line, 50)
        XCTAssertEqual(evidence.site, "pwrite")
        XCTAssertEqual(evidence.siteLine, 29)
        XCTAssertEqual(evidence.access, .write)
    }

    func testReadTwinsAreMarkedAsReads() throws {
        let report = try Fixtures.analyze(["mmap_overlay.c"])
        let block = try XCTUnwrap(report.type(named: "struct log_block"))
        XCTAssertEqual(Set(block.evidence.map(\.access)), [.read])
        let header = try XCTUnwrap(report.type(named: "struct file_header"))
        XCTAssertEqual(Set(header.evidence.map(\.site)), ["mmap", "msync"])
    }

    func testEmbeddedTypesSayWhichFieldHoldsThem() throws {
        let report = try Fixtures.analyze(["direct_writes.c"])
        let version = try XCTUnwrap(report.type(named: "struct version"))
        XCTAssertEqual(version.evidence.map(\.site), ["embedded in struct superblock.version"])
    }

    func testTheReportIsTheSameFromRunToRun() throws {
        let names = ["wrappers.c", "io_table.c", "direct_writes.c", "vectored_and_async.c"]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let first = try encoder.encode(Fixtures.analyze(names))
        let second = try encoder.encode(Fixtures.analyze(names))
        XCTAssertEqual(String(decoding: first, as: UTF8.self), String(decoding: second, as: UTF8.self))
    }

    func testSystemRecordsAppearOnlyWhenAskedFor() throws {
        let file = Fixtures.path("system_types.c")
        let plain = try PersistenceAnalyzer(input: ScanInput(files: [file])).run()
        XCTAssertEqual(plain.types.map(\.name), ["struct snapshot"])
        let all = try PersistenceAnalyzer(input: ScanInput(files: [file], includeSystemTypes: true)).run()
        XCTAssertEqual(Set(all.types.map(\.name)), ["struct snapshot", "struct stat", "struct timespec"])
    }

    func testHeapDescriptorsCarryNameSizeAlignmentAndPointerOffsets() throws {
        let report = try Fixtures.analyze(["unions_and_pointers.c"])
        let document = HeapDescriptorDocument(report: report)
        let entry = try XCTUnwrap(document.types.first { $0.name == "struct tree_entry" })
        XCTAssertEqual(
            entry,
            HeapTypeDescriptor(name: "struct tree_entry", size: 24, alignment: 8, pointerOffsets: [8, 16]))
    }
}
