import Foundation
import PMemHeap
import PMemKit
import TestSupport
import XCTest

/// Creating a pool is all or nothing: a failure after the file was made
/// removes it (only a file this call made, never a device) and closes every
/// descriptor, so the same command can simply be run again.
final class AllOrNothingCreateTests: XCTestCase {
    /// Descriptors this process has open.
    private func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }

    func testATypeThatCannotBeRegisteredLeavesNoPoolAndNoDescriptor() throws {
        let path = try scratchDirectory(self) + "/pool"
        let big = try TypeDescription(name: "big", size: 1 << 30, alignment: 8, pointerOffsets: [])
        let before = try openDescriptors()
        XCTAssertThrowsError(try PersistentHeap.create(path: path, size: 16 << 20, types: [big])) { error in
            XCTAssertTrue("\(error)".contains("is larger than the pool's"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the half-made pool is removed")
        XCTAssertEqual(try openDescriptors(), before, "every descriptor is closed")
        // Nothing is left in the way of the same call done right.
        let heap = try PersistentHeap.create(path: path, size: 16 << 20)
        try heap.close()
    }

    func testAFullTypeTableLeavesNoPool() throws {
        let path = try scratchDirectory(self) + "/pool"
        let types = try (0...128).map {
            try TypeDescription(name: "t\($0)", size: 8, alignment: 8, pointerOffsets: [])
        }
        XCTAssertThrowsError(try PersistentHeap.create(path: path, size: 16 << 20, types: types)) { error in
            XCTAssertTrue("\(error)".contains("type table is full"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testAPlainFileRefusedAsNotPMemIsNotLeftBehind() throws {
        let path = try scratchDirectory(self) + "/pool"
        XCTAssertThrowsError(
            try PersistentHeap.create(
                path: path, size: 16 << 20, options: HeapCreateOptions(requirePMem: true))
        ) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .unsupported, "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testAFileThatExistedIsNeverRemoved() throws {
        let dir = TemporaryDirectory()
        // A pool refused for an existing file: the file stays as it was.
        let existing = dir.makeFile("existing", size: 4096, byte: 7)
        XCTAssertThrowsError(try PersistentHeap.create(path: existing, size: 16 << 20))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: existing)), Data(repeating: 7, count: 4096))
    }

    func testTheCommandLeavesNoPoolWhenATypeFails() throws {
        let dir = try scratchDirectory(self)
        let descriptors = dir + "/types.json"
        try Data(#"{"types":[{"name":"big","size":1073741824,"alignment":8}]}"#.utf8).write(
            to: URL(fileURLWithPath: descriptors))
        let pool = dir + "/pool"
        assertFailure(
            try CLI.run(["heap", "create", pool, "--size", "16M", "--types", descriptors]),
            mentions: "is larger than the pool's")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pool))
        XCTAssertEqual(try CLI.run(["heap", "create", pool, "--size", "16M"]).status, 0, "a retry works")
    }
}
