import Foundation
import PMemKit
import PMemVirt
import XCTest

/// The WPQ ("deep") flush executing on nfit_test's flush hint addresses: every way
/// PMemKit flushes a region (`pmemctl flush`, `PMemMapping.deepFlush`, PMemVirt's
/// region flush target, the host half of a vFHA) must enter the kernel's
/// `generic_nvdimm_flush` for that region, seen by a kprobe that fetches the
/// region's name. That function writes each DIMM's flush hint (`writeq(1, hint)`)
/// for every mapping that has one, and a region says deep_flush `supported` only
/// when one has, so entering it for the region is the hint write itself.
final class NfitTestFlushTests: XCTestCase {
    let janitor = NamespaceJanitor()

    override func tearDown() {
        janitor.cleanUp()
    }

    /// The probe: nd_region's first member is its struct device, whose first is
    /// the kobject, whose first is the name (`region1`).
    private func flushProbe() throws -> KprobeTrace {
        try KprobeTrace(
            event: "wpq_flush", function: "generic_nvdimm_flush", arguments: "region=+0(+0(%di)):string")
    }

    func testPmemctlFlushWritesTheRegionsFlushHints() throws {
        let region = try NfitTestGate.region(deepFlush: .supported)
        let probe = try flushProbe()
        let output = try runTool(HardwareGate.pmemctl, ["flush", "--region", region.name, "--json"])
        let result = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        XCTAssertEqual(result["flushed"] as? Bool, true, output)
        XCTAssertEqual(result["deep_flush"] as? String, "supported", output)
        XCTAssertEqual(
            try probe.hits(where: "region", is: region.name), 1, probe.log)
        XCTAssertEqual(try probe.hits().count, 1, "only \(region.name) was flushed")
    }

    func testRegionWithoutHintsIsNotFlushed() throws {
        let region = try NfitTestGate.region(deepFlush: .notNeeded)
        let probe = try flushProbe()
        let output = try runTool(HardwareGate.pmemctl, ["flush", "--region", region.name])
        XCTAssertTrue(output.contains("deep flush not needed"), output)
        XCTAssertEqual(try probe.hits().count, 0, "a region without flush hints is left alone")
    }

    func testMappingDeepFlushWritesTheHintsBehindTheMapping() throws {
        let region = try NfitTestGate.region(deepFlush: .supported)
        // The mapping is made and flushed, never touched: nfit_test's "PMem" is vmalloc'd
        // kernel memory without device pages, and on this kernel (6.1) a DAX fault on it
        // hits a BUG (device-dax: dax_set_mapping; ext4 -o dax: __vm_insert_mixed), both
        // seen in the lab. What is under test is which hints deepFlush writes.
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .fsdax, size: 32 << 20))
        let blockdev = try XCTUnwrap(ns.blockdev, "an fsdax namespace has a block device")
        let mount = try DaxMount(blockdev: blockdev)
        let file = mount.directory + "/pool"
        do {
            let mapping = try PMemMapping(
                path: file, options: .init(size: 1 << 20, create: true, requirePMem: true))
            XCTAssertEqual(mapping.deepFlushCapability, .supported)
            XCTAssertEqual(mapping.location?.region, region.name)
            let probe = try flushProbe()
            XCTAssertEqual(try mapping.deepFlush(), [region.name])
            XCTAssertEqual(try probe.hits(where: "region", is: region.name), 1, probe.log)
        }
        try mount.unmountNow()
    }

    func testVirtRegionFlushTargetWritesTheFlushHints() throws {
        let region = try NfitTestGate.region(deepFlush: .supported)
        let target = try RegionWPQFlush(region: region.name)
        let probe = try flushProbe()
        for _ in 0..<3 { try target.flush() }
        XCTAssertEqual(
            try probe.hits(where: "region", is: region.name), 3, probe.log)
    }
}
