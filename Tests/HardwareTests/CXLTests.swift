import Foundation
import PMemKit
import XCTest

/// CXL type-3 persistent memory: the topology through libcxl joined to the
/// libnvdimm view, region provisioning, and namespaces on a CXL region.
///
/// `PMEMKIT_TEST_CXL_MEMDEV` names the memdev the tests may destroy and
/// re-create regions on (the lab keeps its own data on another one).
final class CXLTests: XCTestCase {
    let janitor = NamespaceJanitor()

    override func tearDown() {
        janitor.cleanUp()
    }

    /// The test memdev, with a region on it (re-made if a test left none).
    func testMemdev() throws -> (topology: Topology, memdev: CXLMemdev) {
        var topology = try Topology.scan()
        guard !topology.cxl.memdevs.isEmpty else {
            try HardwareGate.unavailable("no CXL memdevs: libcxl found \(topology.cxl.ports.count) ports")
        }
        let name =
            ProcessInfo.processInfo.environment["PMEMKIT_TEST_CXL_MEMDEV"]
            ?? topology.cxl.memdevs.last!.memdev
        guard let memdev = topology.cxl.memdevs.first(where: { $0.memdev == name }) else {
            throw HardwareGate.Unavailable(description: "PMEMKIT_TEST_CXL_MEMDEV=\(name) is not a CXL memdev")
        }
        if region(of: name, in: topology.cxl) == nil {
            _ = try CXLProvisioner.createRegion(CXLRegionRequest(memdevs: [name]))
            topology = try Topology.scan()
        }
        return (topology, memdev)
    }

    func region(of memdev: String, in cxl: CXLTopology) -> CXLRegion? {
        cxl.regions.first { $0.targets.contains { $0.memdev == memdev } }
    }

    func testMemdevWordsMeanWhatCxlCliMeans() throws {
        _ = try testMemdev()
        guard let cxl = findTool(["/usr/bin/cxl", "/bin/cxl"]) else {
            throw HardwareGate.unavailableError("cxl (ndctl's cxl-cli) is not installed")
        }
        let theirs = try XCTUnwrap(try ListComparison.json("\(cxl) list -M --health") as? [[String: Any]])
        let ours = try XCTUnwrap(
            try ListComparison.json("\(HardwareGate.pmemctl) list --cxl --health --json") as? [String: Any])
        let mine = ListComparison.byDev(
            (ours["cxl"] as? [String: Any])?["memdevs"] as? [[String: Any]], key: "memdev")
        var compared = 0
        for memdev in theirs {
            let name = try XCTUnwrap(memdev["memdev"] as? String)
            let my = try XCTUnwrap(mine[name], "pmemctl has no memdev \(name)")
            compared += ListComparison.compare(
                name, ndctl: memdev, ours: my,
                keys: ["memdev", "pmem_size", "ram_size", "serial", "host", "numa_node"])
            if let health = memdev["health"] as? [String: Any] {
                let myHealth = try XCTUnwrap(my["health"] as? [String: Any], "\(name): pmemctl has no health")
                compared += ListComparison.compare(
                    "\(name) health", ndctl: health, ours: myHealth, keys: Array(health.keys))
            } else {
                // QEMU 7.2's memdevs do not answer Get Health Info; neither tool then prints health.
                XCTAssertNil(my["health"], "\(name): cxl-cli reports no health, pmemctl does")
            }
        }
        XCTAssertFalse(theirs.isEmpty, "cxl list found no memdev")
        print("CXLTests: \(compared) memdev values compared with cxl list -M --health")
    }

    func testTopologyJoinsTheCXLRegionToItsNDRegion() throws {
        let (topology, memdev) = try testMemdev()
        XCTAssertNotEqual(memdev.serial, 0, "QEMU's sn= must reach the memdev, or labels break on reboot")
        XCTAssertGreaterThan(memdev.pmemSize, 0)
        XCTAssertNotNil(memdev.endpoint)
        let region = try XCTUnwrap(region(of: memdev.memdev, in: topology.cxl))
        XCTAssertEqual(region.decodeState, "commit")
        let ndName = try XCTUnwrap(region.ndRegion, "libnvdimm made an nd region of \(region.region)")
        let bus = try XCTUnwrap(topology.buses.first { $0.regions.contains { $0.name == ndName } })
        XCTAssertEqual(bus.provider, "CXL")
        let nd = try XCTUnwrap(topology.region(named: ndName))
        XCTAssertEqual(nd.size, region.size)
        XCTAssertEqual(nd.persistenceDomain, .memoryController)
        let chain = topology.cxl.decoderChain(region: region, memdev: memdev.memdev)
        XCTAssertEqual(chain.first, region.decoder, "the chain starts at the root decoder")
        XCTAssertEqual(
            topology.cxl.decoder(named: chain.last!)?.memdev, memdev.memdev,
            "and ends at the memdev's endpoint decoder")
    }

    func testRegionIsDestroyedAndCreatedAgain() throws {
        let (topology, memdev) = try testMemdev()
        let old = try XCTUnwrap(region(of: memdev.memdev, in: topology.cxl))
        if let nd = old.ndRegion.flatMap(topology.region(named:)) {
            for ns in nd.namespaces { try Provisioner.destroyNamespace(ns.name, force: true) }
        }
        try CXLProvisioner.destroyRegion(old.region)
        let after = try Topology.scan()
        XCTAssertNil(region(of: memdev.memdev, in: after.cxl))
        XCTAssertTrue(
            after.cxl.decoders.filter { $0.memdev == memdev.memdev }.allSatisfy { $0.dpaSize == 0 },
            "the memdev's capacity is free again")

        let made = try CXLProvisioner.createRegion(CXLRegionRequest(memdevs: [memdev.memdev]))
        XCTAssertEqual(made.size, memdev.pmemSize)
        XCTAssertEqual(made.targets.map(\.memdev), [memdev.memdev])
        XCTAssertNotNil(made.ndRegion)
    }

    func testCreatingARegionOnABusyMemdevFailsAndChangesNothing() throws {
        let (topology, memdev) = try testMemdev()
        XCTAssertThrowsError(try CXLProvisioner.createRegion(CXLRegionRequest(memdevs: [memdev.memdev]))) {
            error in
            XCTAssertEqual((error as? PMemError)?.kind, .busy, "\(error)")
        }
        XCTAssertEqual(try Topology.scan().cxl.regions, topology.cxl.regions)
    }

    func testBadRequestsNameTheProblem() throws {
        let (_, memdev) = try testMemdev()
        XCTAssertThrowsError(try CXLProvisioner.createRegion(CXLRegionRequest(memdevs: ["mem99"]))) { error in
            XCTAssertTrue("\(error)".contains("no memdev named mem99"), "\(error)")
        }
        XCTAssertThrowsError(
            try CXLProvisioner.createRegion(CXLRegionRequest(memdevs: [memdev.memdev], ways: 2))
        ) { error in
            XCTAssertTrue("\(error)".contains("needs 2 memdevs"), "\(error)")
        }
        XCTAssertThrowsError(try CXLProvisioner.destroyRegion("region99")) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .notFound)
        }
    }

    func testNamespacesOnACXLRegionMapAndPersist() throws {
        let (topology, memdev) = try testMemdev()
        let region = try XCTUnwrap(region(of: memdev.memdev, in: topology.cxl))
        let ndName = try XCTUnwrap(region.ndRegion)
        let ns = try janitor.create(in: ndName, NamespaceRequest(mode: .devdax, size: 64 << 20))
        let device = "/dev/\(try XCTUnwrap(ns.chardev))"
        // CXL memory is emulated as device I/O here (7-38 MB/s): a small pattern.
        let pattern = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
        do {
            let m = try PMemMapping(path: device, options: .init(requirePMem: true))
            XCTAssertEqual(m.location?.region, ndName)
            pattern.withUnsafeBytes { m.copyPersist(toOffset: 8192, from: $0.baseAddress!, count: $0.count) }
            try m.deepFlush()
        }
        do {
            let again = try PMemMapping(path: device, options: .init(readOnly: true))
            XCTAssertEqual(
                Array(UnsafeRawBufferPointer(start: again.base + 8192, count: pattern.count)), pattern)
        }
        let report = try MappingReport.describe(path: device)
        XCTAssertEqual(report.provider, "CXL")
        XCTAssertEqual(report.cxl?.region, region.region)
        XCTAssertEqual(report.cxl?.memdevs, [memdev.memdev])
        XCTAssertEqual(report.cxl?.decoderChains[memdev.memdev]?.first, region.decoder)

        // Destroying the region under a namespace needs --force.
        XCTAssertThrowsError(try CXLProvisioner.destroyRegion(region.region)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .busy)
            XCTAssertTrue("\(error)".contains(ns.name), "\(error)")
        }
        let raw = try janitor.create(in: ndName, NamespaceRequest(mode: .raw, size: 32 << 20))
        XCTAssertNotNil(raw.blockdev)
    }

    func testFsdaxOnACXLRegionMapsWithMapSync() throws {
        let (topology, memdev) = try testMemdev()
        let ndName = try XCTUnwrap(region(of: memdev.memdev, in: topology.cxl)?.ndRegion)
        let ns = try janitor.create(in: ndName, NamespaceRequest(mode: .fsdax, size: 64 << 20))
        let fs = try DaxMount(blockdev: try XCTUnwrap(ns.blockdev))
        let file = "\(fs.directory)/pool"
        do {
            let m = try PMemMapping(
                path: file, options: .init(size: 2 << 20, create: true, requirePMem: true))
            XCTAssertEqual(m.kind, .fsdax)
            XCTAssertEqual(m.location?.region, ndName)
            m.setPersist(offset: 4096, value: 0xC7, count: 4096)
        }
        try fs.unmountNow()
        try fs.mountAgain()
        do {
            let again = try PMemMapping(path: file, options: .init(readOnly: true))
            XCTAssertTrue(
                UnsafeRawBufferPointer(start: again.base + 4096, count: 4096).allSatisfy { $0 == 0xC7 })
        }
        try fs.unmountNow()
    }
}
