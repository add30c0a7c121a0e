import Foundation
import PMemHeap
import PMemKit
import TestSupport
import XCTest

/// A FIFO, a socket, a directory or a character device that is not DAX given
/// where a pool or a file is expected is refused at once with one line
/// naming what it is: an open of a FIFO would block for ever, a read of
/// /dev/zero would never end.
final class SpecialFileTests: XCTestCase {
    /// Paths that are not pools, and the word the refusal must use for each.
    private func specialPaths(in dir: TemporaryDirectory) -> [(path: String, kind: String)] {
        [
            (dir.makeFIFO("fifo"), "FIFO"), (dir.makeSocket("socket"), "socket"),
            (dir.makeDirectory("directory"), "directory"), ("/dev/zero", "not a DAX device"),
            ("/dev/null", "not a DAX device"),
        ]
    }

    func testHeapCommandsRefuseSpecialFilesWithOneLine() throws {
        let dir = TemporaryDirectory()
        for (path, kind) in specialPaths(in: dir) {
            for command in [["info"], ["check"], ["stats"], ["check", "--recover"]] {
                let r = try CLI.run(["heap"] + command + [path], timeout: 20)
                assertFailure(r, mentions: kind)
            }
        }
    }

    func testOpeningASpecialFileAsAHeapIsRefused() throws {
        let dir = TemporaryDirectory()
        for (path, kind) in specialPaths(in: dir) {
            XCTAssertThrowsError(try PersistentHeap.open(path: path), path) { error in
                XCTAssertTrue("\(error)".contains(kind), "\(error)")
            }
            XCTAssertThrowsError(try HeapChecker.check(path: path), path) { error in
                XCTAssertTrue("\(error)".contains(kind), "\(error)")
            }
        }
    }

    func testTypeDescriptionsMustBeARegularFile() throws {
        let dir = TemporaryDirectory()
        for (path, kind) in [(dir.makeFIFO("fifo"), "a FIFO"), ("/dev/zero", "a character device")] {
            let r = try CLI.run(
                ["heap", "create", dir.file("pool"), "--size", "16M", "--types", path], timeout: 20)
            assertFailure(r, mentions: "\(path) is \(kind), not a regular file")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("pool")))
        }
    }

    func testInfoRefusesSpecialFilesWithOneLine() throws {
        let dir = TemporaryDirectory()
        for (path, kind) in specialPaths(in: dir) {
            assertFailure(try CLI.run(["info", path], timeout: 20), mentions: kind)
        }
    }
}
