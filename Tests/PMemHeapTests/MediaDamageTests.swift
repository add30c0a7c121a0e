import Foundation
import PMemKit
import XCTest

@testable import PMemHeap

/// Where bad bytes fall in a pool (the kernel's list is faked here: the lab
/// injects real ones into nfit_test, NfitTestMediaErrorTests), and the file's
/// bytes on its device through FIEMAP.
final class MediaDamageTests: XCTestCase {
    /// A pool with a list of `count` nodes; returns its path and the nodes' offsets in list order.
    private func pool(count: Int) throws -> (String, [Int]) {
        let path = try scratchDirectory(self) + "/pool"
        let heap = try PersistentHeap.create(path: path, size: 8 << 20)
        let root = try buildList(heap, (1...Int64(count)).map { $0 })
        var offsets: [Int] = []
        var node = root.pointee.head
        while !node.isNull {
            offsets.append(UnsafeRawPointer(node.address!) - UnsafeRawPointer(heap.base))
            node = node.pointee.next
        }
        try heap.close()
        return (path, offsets)
    }

    func testBadBytesInAnObjectNameItAndNothingElse() throws {
        let (path, offsets) = try pool(count: 10)
        let target = offsets[4]
        let damage = try MediaDamage.classify(
            path: path, ranges: [UInt64(target + 8)..<UInt64(target + 9)])
        XCTAssertEqual(damage.objects.map(\.offset), [target])
        XCTAssertEqual(damage.objects.first?.type, "test.Node")
        XCTAssertEqual(damage.objects.first?.bad, [UInt64(target + 8)..<UInt64(target + 9)])
        XCTAssertTrue(damage.metadata.isEmpty)
        XCTAssertTrue(damage.repairable)
        XCTAssertEqual(damage.summary, "1 bad range hit 1 object ('test.Node' at \(target))")
    }

    func testMetadataLogAndFreeSpaceAreToldApart() throws {
        let (path, _) = try pool(count: 3)
        let view = try PoolView(path: path)
        let geometry = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path).geometry
        let header = try MediaDamage.classify(path: path, ranges: [512..<1024])
        XCTAssertEqual(header.metadata, ["header"])
        XCTAssertFalse(header.repairable)
        let directory = try MediaDamage.classify(
            path: path,
            ranges: [UInt64(geometry.slabDirectoryOffset)..<UInt64(geometry.slabDirectoryOffset + 512)])
        XCTAssertEqual(directory.metadata, ["slab directory"])
        let log = try MediaDamage.classify(
            path: path, ranges: [UInt64(geometry.logOffset)..<UInt64(geometry.logOffset + 1024)])
        XCTAssertEqual(log.logBytes, 1024)
        XCTAssertTrue(log.objects.isEmpty && log.metadata.isEmpty)
        let lastSlab = geometry.slabOffset(geometry.slabCount - 1)
        let free = try MediaDamage.classify(path: path, ranges: [UInt64(lastSlab)..<UInt64(lastSlab + 512)])
        XCTAssertEqual(free.freeBytes, 512, "a slab no type holds is free space")
        XCTAssertEqual(free.summary, "1 bad range hit 512 bytes of free space")
    }

    func testABitmapIsMetadata() throws {
        let (path, offsets) = try pool(count: 3)
        let view = try PoolView(path: path)
        let geometry = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path).geometry
        let slab = (offsets[0] - geometry.slabsOffset) / geometry.slabSize
        let start = UInt64(geometry.slabOffset(slab))
        let damage = try MediaDamage.classify(path: path, ranges: [start..<(start + 8)])
        XCTAssertEqual(damage.metadata, ["slab \(slab)'s bitmap"])
    }

    func testACheckReadsAroundBadPagesAndRepairRefusesMetadata() throws {
        let (path, offsets) = try pool(count: 10)
        // The checker takes the kernel's list; the classification it reports is this one.
        let damage = try MediaDamage.classify(
            path: path, ranges: [UInt64(offsets[9])..<UInt64(offsets[9] + 512)])
        XCTAssertFalse(damage.objects.isEmpty)
        let header = try MediaDamage.classify(path: path, ranges: [0..<512])
        let before = try fileBytes(path)
        XCTAssertThrowsError(try MediaDamage.repair(path: path, damage: header)) { error in
            XCTAssertTrue("\(error)".contains("bad media in header cannot be repaired here"), "\(error)")
        }
        XCTAssertEqual(try fileBytes(path), before, "nothing written")
    }

    func testBadBlocksTextAndAFilesBlocksOnItsDevice() throws {
        XCTAssertEqual(BadBlocks.parse("8 2\n100 1\n"), [4096..<5120, 51200..<51712])
        XCTAssertEqual(BadBlocks.parse("junk\n"), [])
        // FIEMAP on this machine's disk: a "bad" device range inside the file's first extent
        // maps back to the file offset it came from.
        let path = NSTemporaryDirectory() + "media-\(getpid())"
        defer { unlink(path) }
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        do {
            let anywhere = try BadBlocks.fileRanges(path, overlapping: [0..<UInt64.max])
            guard let whole = anywhere.first else { throw XCTSkip("the file system reports no extents") }
            XCTAssertEqual(whole, 0..<(1 << 20), "a device-wide bad range covers the whole file")
        } catch let error as PMemError where error.description.contains("FIEMAP") {
            throw XCTSkip("no FIEMAP here: \(error)")
        }
        XCTAssertEqual(try BadBlocks.fileRanges(path, overlapping: []), [])
    }
}
