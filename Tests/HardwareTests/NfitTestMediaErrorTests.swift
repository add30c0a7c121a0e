import Foundation
import PMemHeap
import PMemKit
import XCTest

/// A media error under a pool, injected with `ndctl inject-error` into
/// nfit_test's memory: the open refuses to read it, `pmemctl heap check`
/// names the damaged object, `--recover` clears the bad sector and zeroes the
/// object, and the pool opens again with everything else intact.
///
/// The pool is a file on ext4 on a raw namespace (no DAX: a DAX fault on
/// nfit_test's memory hits a kernel BUG on 6.1, see NfitTestFlushTests), so
/// the bad sector's place is the file's block (filefrag) plus the offset in it.
final class NfitTestMediaErrorTests: XCTestCase {
    let janitor = NamespaceJanitor()

    override func tearDown() {
        janitor.cleanUp()
    }

    func testAnInjectedMediaErrorIsNamedRefusedAndRepaired() throws {
        let region = try NfitTestGate.region(deepFlush: .supported)
        guard let ndctl = findTool(["/usr/bin/ndctl", "/bin/ndctl"]),
            let filefrag = findTool(["/usr/sbin/filefrag", "/sbin/filefrag"])
        else { throw HardwareGate.unavailableError("ndctl or filefrag is not installed") }
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .raw, size: 32 << 20))
        let mount = try DaxMount(blockdev: try XCTUnwrap(ns.blockdev), dax: false)
        defer { try? mount.unmountNow() }
        let pool = mount.directory + "/pool"
        let values: [Int64] = (1...100).map { $0 * 3 }
        // Each node's offset in the pool, in list order.
        var offsets: [Int] = []
        do {
            let heap = try PersistentHeap.create(path: pool, size: 8 << 20)
            let nodes = try heap.register(HardwareNode.self)
            try heap.transaction { tx in
                var head = PersistentPointer<HardwareNode>.null
                for value in values.reversed() {
                    head = try tx.allocate(nodes, HardwareNode(value: value, next: head))
                }
                try tx.setRoot(head)
            }
            var node = try heap.root(HardwareNode.self)
            while !node.isNull {
                offsets.append(UnsafeRawPointer(node.address!) - UnsafeRawPointer(heap.base))
                node = node.pointee.next
            }
            try heap.close()
        }
        // Out of the page cache: a dirty or cached page would be written back over the
        // bad sector (which clears it) or read from memory, never from the media.
        let fd = open(pool, O_RDONLY)
        XCTAssertEqual(fsync(fd), 0)
        close(fd)
        try "3".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)
        XCTAssertEqual(try BadBlocks.of(path: pool), [], "no bad blocks before the injection")
        // The sector under the list's last node: it holds that node and its neighbours in the slab.
        let last = try XCTUnwrap(offsets.last)
        let sector = try deviceSector(of: pool, offset: last, filefrag: filefrag)
        try runTool(ndctl, ["inject-error", "--block=\(sector)", "--count=1", ns.name])
        defer {
            _ = try? runTool(
                ndctl, ["inject-error", "--uninject", "--block=\(sector)", "--count=1", ns.name])
        }

        let bad = try BadBlocks.of(path: pool)
        XCTAssertEqual(bad.count, 1, "one bad sector in the pool file: \(bad)")
        let range = try XCTUnwrap(bad.first)
        XCTAssertTrue(range.contains(UInt64(last)), "\(bad) holds the node at \(last)")
        do {
            // A mapping of the pool reports the same bytes (made, never touched there).
            let mapping = try PMemMapping(path: pool)
            XCTAssertEqual(try mapping.badBlocks(), [Int(range.lowerBound)..<Int(range.upperBound)])
        }
        let hit = offsets.filter { UInt64($0) < range.upperBound && UInt64($0 + 16) > range.lowerBound }
        XCTAssertThrowsError(try PersistentHeap.open(path: pool)) { error in
            XCTAssertTrue(
                "\(error)".contains("has bad media: 1 bad range hit \(hit.count) objects ('hw.Node' at"),
                "\(error)")
        }
        let report = try HeapChecker.check(path: pool)
        XCTAssertFalse(report.healthy)
        XCTAssertEqual(
            report.media?.objects.map(\.offset), hit.sorted(), "every node in the bad sector, no other")
        XCTAssertTrue(
            (report.problems.first ?? "").hasPrefix("bad media in 'hw.Node' object at offset \(hit.min()!)"),
            "\(report.problems)")

        let recovered = try runTool(
            "/bin/sh", ["-c", "\(HardwareGate.pmemctl) heap check --recover \(pool); echo exit=$?"])
        print("NfitTestMediaErrorTests: pmemctl heap check --recover (first lines):")
        print(recovered.split(separator: "\n").prefix(4).joined(separator: "\n"))
        for offset in hit {
            XCTAssertTrue(
                recovered.contains("zeroed 'hw.Node' object at offset \(offset) (16 bytes)"), recovered)
        }
        XCTAssertEqual(try BadBlocks.of(path: pool), [], "writing the sector cleared it")
        // The nodes in that sector are gone: the list ends at the first of them, the rest leak.
        XCTAssertTrue(
            recovered.contains("\(hit.count - 1) allocated objects are unreachable from the root"), recovered)
        let heap = try PersistentHeap.open(path: pool)
        try heap.register(HardwareNode.self)
        var seen: [Int64] = []
        var node = try heap.root(HardwareNode.self)
        while !node.isNull {
            seen.append(node.pointee.value)
            node = node.pointee.next
        }
        let intact = offsets.firstIndex { hit.contains($0) }!
        XCTAssertEqual(
            seen, Array(values.prefix(intact)) + [0], "intact up to the first lost node, which reads zero")
        try heap.close()
    }

    /// The device sector (512 bytes) holding byte `offset` of `file`, from `filefrag -v -b512`.
    private func deviceSector(of file: String, offset: Int, filefrag: String) throws -> Int {
        let output = try runTool(filefrag, ["-v", "-b512", file])
        // Lines: "   0:        0..    2047:      34816..     36863:   2048:   ..."
        for line in output.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "." }).map(String.init)
            guard fields.count >= 5, Int(fields[0]) != nil, let logical = Int(fields[1]),
                let logicalEnd = Int(fields[2]),
                let physical = Int(fields[3])
            else { continue }
            let wanted = offset / 512
            if (logical...logicalEnd).contains(wanted) { return physical + (wanted - logical) }
        }
        throw HardwareGate.Unavailable(
            description: "filefrag does not place byte \(offset) of \(file): \(output)")
    }
}
