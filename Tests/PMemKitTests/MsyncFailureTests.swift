import Foundation
import TestSupport
import XCTest

@testable import PMemKit

/// A `file` backing's msync failures are kept, never dropped: the first one
/// stays in the mapping and `checkDurability()` and `deepFlush()` throw it.
final class MsyncFailureTests: XCTestCase {
    let dir = TemporaryDirectory()
    let page = Int(getpagesize())

    /// A three-page `file`-backed mapping whose middle page is unmapped, so
    /// that an msync covering it fails with ENOMEM.
    private func mappingWithAHole() throws -> PMemMapping {
        let m = try PMemMapping(path: dir.makeFile("pool", size: 3 * page), options: .init(plainFile: .file))
        XCTAssertEqual(m.backing, .file)
        XCTAssertEqual(munmap(m.base + page, page), 0)
        return m
    }

    func testASuccessfulPersistLeavesNothingToReport() throws {
        let m = try PMemMapping(path: dir.makeFile("pool", size: 3 * page), options: .init(plainFile: .file))
        m.base.storeBytes(of: 1, as: UInt8.self)
        m.persist(offset: 0, length: 1)
        XCTAssertNil(m.durabilityFailure)
        XCTAssertNoThrow(try m.checkDurability())
        XCTAssertEqual(try m.deepFlush(), [])
    }

    func testAFailedPersistIsReportedWithItsErrnoAndRange() throws {
        let m = try mappingWithAHole()
        m.persist(offset: page + 8, length: 8)
        let failure = try XCTUnwrap(m.durabilityFailure)
        XCTAssertEqual(failure.errno, ENOMEM)
        XCTAssertEqual(failure.operation, "msync")
        XCTAssertTrue(failure.detail.contains("\(m.path): bytes \(page)..<\(page + 16)"), failure.detail)
        XCTAssertThrowsError(try m.checkDurability()) { XCTAssertEqual($0 as? PMemError, failure) }
    }

    func testTheFirstFailureStaysThroughLaterSuccessesAndFailures() throws {
        let m = try mappingWithAHole()
        m.flush(m.base + page, 8)
        let first = try XCTUnwrap(m.durabilityFailure)
        m.persist(offset: 0, length: 8)  // succeeds: page 0 is mapped
        m.flush(m.base + 2 * page - 8, 16)  // fails again, over pages 1 and 2
        XCTAssertEqual(m.durabilityFailure, first)
        XCTAssertThrowsError(try m.checkDurability()) { XCTAssertEqual($0 as? PMemError, first) }
        XCTAssertThrowsError(try m.deepFlush()) { XCTAssertEqual($0 as? PMemError, first) }
    }

    func testDeepFlushThrowsItsOwnMsyncFailure() throws {
        let m = try mappingWithAHole()
        XCTAssertThrowsError(try m.deepFlush()) { error in
            XCTAssertEqual((error as? PMemError)?.errno, ENOMEM)
            XCTAssertTrue("\(error)".contains("bytes 0..<\(3 * self.page)"), "\(error)")
        }
        XCTAssertNotNil(m.durabilityFailure)
    }

    func testTheInternalMsyncPathKeepsAFailureOnAnUnmappedPage() throws {
        let m = try PMemMapping(path: dir.makeFile("pool", size: page), options: .init(plainFile: .file))
        let gone = try XCTUnwrap(mmap(nil, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        munmap(gone, page)
        m.msyncRange(gone, 8)
        XCTAssertEqual(m.durabilityFailure?.errno, ENOMEM)
    }

    func testACPUPersistPathHasNoMsyncToFail() throws {
        let m = try PMemMapping(
            path: dir.makeFile("pool", size: 3 * page), options: .init(plainFile: .emulated))
        m.persist(offset: 0, length: 8)
        XCTAssertNil(m.durabilityFailure)
        XCTAssertNoThrow(try m.checkDurability())
    }
}
