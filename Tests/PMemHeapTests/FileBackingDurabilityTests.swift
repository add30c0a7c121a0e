import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

/// On a `file` backing (msync), a failed msync is not dropped: the commits
/// after it and `close` throw it.
final class FileBackingDurabilityTests: XCTestCase {
    /// A pool on a `file` backing.
    private func fileBackedHeap() throws -> PersistentHeap {
        let heap = try PersistentHeap.create(
            path: try scratchDirectory(self) + "/pool", size: 8 << 20, options: .init(plainFile: .file))
        XCTAssertEqual(heap.pool.mapping?.backing, .file)
        XCTAssertNil(heap.pool.cpuPath)
        return heap
    }

    /// Makes the pool's mapping keep an msync failure (ENOMEM: a page no longer mapped).
    private func failAnMsync(_ heap: PersistentHeap) throws {
        let page = Int(getpagesize())
        let gone = try XCTUnwrap(mmap(nil, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        munmap(gone, page)
        heap.pool.mapping?.persist(gone, 8)
    }

    func testCommitsSucceedWhileEveryMsyncDoes() throws {
        let heap = try fileBackedHeap()
        let root = try buildList(heap, [1, 2])
        try heap.transaction { tx in try tx.write(7, to: root.field(\.sum)) }
        XCTAssertEqual(root.pointee.sum, 7)
        XCTAssertNoThrow(try heap.close())
    }

    func testACommitAfterAFailedMsyncThrowsItAndCloseToo() throws {
        let heap = try fileBackedHeap()
        let root = try buildList(heap, [1])
        try failAnMsync(heap)
        XCTAssertThrowsError(try heap.transaction { tx in try tx.write(9, to: root.field(\.sum)) }) { error in
            XCTAssertEqual((error as? PMemError)?.operation, "msync")
            XCTAssertEqual((error as? PMemError)?.errno, ENOMEM)
        }
        XCTAssertEqual(root.pointee.sum, 9, "the commit ran; only its durability is in doubt")
        XCTAssertThrowsError(try heap.transaction { tx in try tx.write(10, to: root.field(\.sum)) })
        XCTAssertThrowsError(try heap.close()) { XCTAssertEqual(($0 as? PMemError)?.errno, ENOMEM) }
    }
}
