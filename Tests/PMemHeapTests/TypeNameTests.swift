import Foundation
import PMemHeap
import PMemKit
import TestSupport
import XCTest

/// A type's name is stored NUL-padded in a 128-byte field and read back up to
/// the first NUL: a name that would not read back as itself (a NUL inside,
/// empty, too long) is refused before anything is written, or the pool
/// could never be opened again (its stored layout would not match its hash).
final class TypeNameTests: XCTestCase {
    func testANameWithANulByteIsRefused() {
        XCTAssertThrowsError(try TypeDescription(name: "a\0b", size: 8, alignment: 8, pointerOffsets: [])) {
            XCTAssertTrue("\($0)".contains("NUL"), "\($0)")
        }
    }

    func testRegisteringANameWithANulByteWritesNothingAndThePoolStillOpens() throws {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        var description = try TypeDescription(name: "ab", size: 8, alignment: 8, pointerOffsets: [])
        description.name = "a\0b"
        XCTAssertThrowsError(try heap.register(description)) {
            XCTAssertTrue("\($0)".contains("NUL"), "\($0)")
        }
        XCTAssertTrue(heap.types.isEmpty)
        try heap.close()
        let reopened = try PersistentHeap.open(path: path)
        XCTAssertTrue(reopened.types.isEmpty)
    }

    func testTheCommandRefusesAnAnalyzerFileWithSuchANameAndMakesNoPool() throws {
        let dir = try scratchDirectory(self)
        let descriptors = dir + "/types.json"
        try Data(#"{"types":[{"name":"struct a\u0000b","size":8,"alignment":8}]}"#.utf8).write(
            to: URL(fileURLWithPath: descriptors))
        assertFailure(
            try CLI.run(["heap", "create", dir + "/pool", "--size", "16M", "--types", descriptors]),
            mentions: "NUL")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/pool"))
    }

    func testEmptyAndOverlongNamesAreRefused() {
        for name in ["", String(repeating: "é", count: 64)] {
            XCTAssertThrowsError(try TypeDescription(name: name, size: 8, alignment: 8, pointerOffsets: []))
        }
        XCTAssertNoThrow(
            try TypeDescription(
                name: String(repeating: "x", count: 127), size: 8, alignment: 8, pointerOffsets: []))
    }
}
