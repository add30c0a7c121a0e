import Foundation
import PMemHeap
import PMemKit
import XCTest

/// Unsafe-shutdown detection on nfit_test's DIMMs, whose SMART data counts
/// unsafe shutdowns and takes an injected one (`ndctl inject-smart -U`, which
/// raises the DIMM's count as a real unsafe shutdown would at the next boot).
///
/// The pool is a file on ext4 mounted without DAX on an fsdax namespace there:
/// a DAX fault on nfit_test's memory hits a kernel BUG on 6.1 (see
/// NfitTestFlushTests), and what is under test is which devices the pool finds
/// under it and what it does with their counts, not the mapping.
final class NfitTestUnsafeShutdownTests: XCTestCase {
    let janitor = NamespaceJanitor()

    override func tearDown() {
        janitor.cleanUp()
    }

    func testAnInjectedUnsafeShutdownIsFoundAtTheNextOpenAndThePoolChecked() throws {
        let region = try NfitTestGate.region(deepFlush: .supported)
        guard let ndctl = findTool(["/usr/bin/ndctl", "/bin/ndctl"]) else {
            throw HardwareGate.unavailableError("ndctl is not installed")
        }
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .fsdax, size: 32 << 20))
        let mount = try DaxMount(blockdev: try XCTUnwrap(ns.blockdev), dax: false)
        defer { try? mount.unmountNow() }
        let pool = mount.directory + "/pool"
        let leftOpen = mount.directory + "/left-open"

        let counts = try ShutdownCounts.of(path: mount.directory)
        XCTAssertEqual(
            Set(counts.map(\.device)), Set(region.mappings.map(\.dimm)), "every DIMM of \(region.name) counts"
        )
        XCTAssertTrue(
            counts.allSatisfy { $0.source == .smart && $0.id.hasPrefix("nvdimm:cdab-") }, "\(counts)")

        let created = try PersistentHeap.create(path: pool, size: 8 << 20)
        try created.close()
        let heap = try PersistentHeap.open(path: pool)
        XCTAssertEqual(heap.openReport.shutdownCounts, counts)
        // The pool as a power cut would leave it: open, with the counts of its open recorded.
        try FileManager.default.copyItem(atPath: pool, toPath: leftOpen)
        try heap.close()

        let victim = try XCTUnwrap(counts.first)
        try runTool(ndctl, ["inject-smart", "--unsafe-shutdown", victim.device])
        let info = try runTool(HardwareGate.pmemctl, ["heap", "info", leftOpen])
        XCTAssertTrue(
            info.contains(
                "\(victim.device) counted \(victim.count) -> \(victim.count + 1) while the pool was open"),
            info)
        print("NfitTestUnsafeShutdownTests: pmemctl heap info after the injection:\n\(info)")

        let reopened = try PersistentHeap.open(path: leftOpen)
        let found = try XCTUnwrap(reopened.openReport.unsafeShutdown, "the rise must be found")
        XCTAssertEqual(found.changes.map(\.device), [victim.device])
        XCTAssertEqual(found.changes.first?.after, victim.count + 1)
        XCTAssertEqual(found.checkProblems, 0, "the pool was checked before use and is consistent")
        try reopened.close()
        // The cleanly closed original saw the same rise after its close: nothing to find.
        let original = try PersistentHeap.open(path: pool)
        XCTAssertNil(original.openReport.unsafeShutdown)
        try original.close()
    }
}
