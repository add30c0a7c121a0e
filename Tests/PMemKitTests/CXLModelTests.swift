import CPMemShim
import XCTest

@testable import PMemKit

/// The CXL model from fixed shim structs, the nd join, decoder chains, and
/// region requests validated before anything is programmed.
final class CXLModelTests: XCTestCase {
    let mib: UInt64 = 1 << 20

    /// One host bridge, two memdevs; mem0 already in region1 (nd region2).
    func topology() -> CXLTopology {
        var t = CXLTopology(
            memdevs: [
                CXLMemdev(memdev: "mem0", serial: 0xC0DE_0000, pmemSize: 512 * mib, endpoint: "endpoint3"),
                CXLMemdev(memdev: "mem1", serial: 0xC0DE_0001, pmemSize: 512 * mib, endpoint: "endpoint4"),
            ],
            ports: [
                CXLPort(port: "root0", kind: .root),
                CXLPort(port: "port1", kind: .switch, parent: "root0", depth: 1),
                CXLPort(port: "endpoint3", kind: .endpoint, parent: "port1", depth: 2),
                CXLPort(port: "endpoint4", kind: .endpoint, parent: "port1", depth: 2),
            ],
            decoders: [
                CXLDecoder(
                    decoder: "decoder0.0", port: "root0", size: 4 << 30, maxAvailableExtent: 3584 * mib,
                    pmemCapable: true, volatileCapable: true),
                CXLDecoder(decoder: "decoder1.0", port: "port1", size: 512 * mib, region: "region1"),
                CXLDecoder(
                    decoder: "decoder3.0", port: "endpoint3", size: 512 * mib, dpaSize: 512 * mib,
                    mode: "pmem",
                    region: "region1", memdev: "mem0"),
                CXLDecoder(decoder: "decoder4.0", port: "endpoint4", mode: "none", memdev: "mem1"),
            ],
            regions: [
                CXLRegion(
                    region: "region1", decoder: "decoder0.0", resource: 0x1_D000_0000, size: 512 * mib,
                    targets: [.init(position: 0, decoder: "decoder3.0", memdev: nil)])
            ])
        t.join(ndRegions: [Region(name: "region2", size: 512 * mib, resource: 0x1_D000_0000)])
        return t
    }

    func reachesAll(_ decoder: String, _ memdev: String) -> Bool { decoder == "decoder0.0" }

    func testJoinFillsTargetMemdevsAndTheNDRegionByAddress() {
        let region = topology().regions[0]
        XCTAssertEqual(region.targets.map(\.memdev), ["mem0"])
        XCTAssertEqual(region.ndRegion, "region2")
        XCTAssertEqual(topology().region(backingNDRegion: "region2")?.region, "region1")
    }

    func testDecoderChainRunsFromTheRootDecoderToTheEndpoint() {
        let t = topology()
        XCTAssertEqual(
            t.decoderChain(region: t.regions[0], memdev: "mem0"), ["decoder0.0", "decoder1.0", "decoder3.0"])
    }

    func testJSONUsesTheKernelsNames() throws {
        let data = try JSONEncoder().encode(Topology(cxl: topology()))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cxl = try XCTUnwrap(json["cxl"] as? [String: Any])
        let memdev = try XCTUnwrap((cxl["memdevs"] as? [[String: Any]])?.first)
        XCTAssertEqual(memdev["memdev"] as? String, "mem0")
        XCTAssertNotNil(memdev["pmem_size"])
        let region = try XCTUnwrap((cxl["regions"] as? [[String: Any]])?.first)
        XCTAssertEqual(region["nd_region"] as? String, "region2")
        XCTAssertEqual(region["decode_state"] as? String, "commit")
        XCTAssertEqual(try JSONDecoder().decode(Topology.self, from: data).cxl, topology())
    }

    func testPortKindsFromTheShim() {
        var info = pmk_cxl_port_info()
        setShimString(&info.devname, "endpoint3")
        setShimString(&info.parent, "port1")
        info.kind = PMK_CXL_PORT_ENDPOINT
        info.enabled = true
        XCTAssertEqual(CXLPort(shim: info), CXLPort(port: "endpoint3", kind: .endpoint, parent: "port1"))
        info.kind = PMK_CXL_PORT_ROOT
        setShimString(&info.parent, "")
        XCTAssertNil(CXLPort(shim: info).parent)
    }

    func testPlanDefaultsToTheWholeFreeMemdevUnderAReachingRootDecoder() throws {
        let plan = try CXLRegionPlan.make(for: .init(memdevs: ["mem1"]), in: topology(), reaches: reachesAll)
        XCTAssertEqual(
            plan, CXLRegionPlan(rootDecoder: "decoder0.0", memdevs: ["mem1"], ways: 1, size: 512 * mib))
    }

    func assertInvalid(_ request: CXLRegionRequest, mentions text: String, line: UInt = #line) {
        XCTAssertThrowsError(
            try CXLRegionPlan.make(for: request, in: topology(), reaches: reachesAll), line: line
        ) {
            XCTAssertTrue("\($0)".contains(text), "\($0)", line: line)
        }
    }

    func testABusyMemdevIsRefused() {
        assertInvalid(.init(memdevs: ["mem0"]), mentions: "mem0 is busy")
    }

    func testUnknownMemdevsAndDecodersAreNamed() {
        assertInvalid(.init(memdevs: ["mem7"]), mentions: "no memdev named mem7 (memdevs: mem0, mem1)")
        assertInvalid(
            .init(memdevs: ["mem1"], rootDecoder: "decoder9.9"), mentions: "no root decoder named decoder9.9")
        assertInvalid(
            .init(memdevs: ["mem1"], rootDecoder: "decoder1.0"), mentions: "no root decoder named decoder1.0")
    }

    func testWaysMustMatchTheMemdevs() {
        assertInvalid(.init(memdevs: ["mem1"], ways: 2), mentions: "--ways 2 needs 2 memdevs")
        assertInvalid(.init(memdevs: ["mem1", "mem1"]), mentions: "listed twice")
    }

    func testSizeIsInWholeGranules() {
        assertInvalid(.init(memdevs: ["mem1"], size: 300 * mib), mentions: "did you mean 512M")
        assertInvalid(.init(memdevs: ["mem1"], size: 1024 * mib), mentions: "exceeds what is free: 512M")
    }

    func testARootDecoderThatDoesNotRouteIsRefused() {
        XCTAssertThrowsError(
            try CXLRegionPlan.make(for: .init(memdevs: ["mem1"]), in: topology()) { _, _ in false }
        ) {
            XCTAssertTrue("\($0)".contains("no pmem-capable root decoder reaches mem1"), "\($0)")
        }
    }

    func testNoCXLAtAllIsNotFound() {
        XCTAssertThrowsError(
            try CXLRegionPlan.make(for: .init(memdevs: ["mem0"]), in: CXLTopology(), reaches: reachesAll)
        ) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .notFound)
        }
    }

    func testASizeNearTheTopOfTheRangeIsRefusedNotTrapped() {
        // Rounding it up to the next granule does not fit 64 bits.
        assertInvalid(.init(memdevs: ["mem1"], size: .max), mentions: "is not a multiple of 256M")
    }
}
