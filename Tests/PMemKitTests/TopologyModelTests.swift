import CPMemShim
import XCTest

@testable import PMemKit

/// The topology model built from fixed shim structs, and its JSON: the
/// `pmemctl list --json` contract.
final class TopologyModelTests: XCTestCase {
    func regionInfo() -> pmk_region_info {
        var info = pmk_region_info()
        setShimString(&info.devname, "region0")
        setShimString(&info.type, "pmem")
        info.size = 1 << 30
        info.available_size = 512 << 20
        info.max_available_extent = 512 << 20
        info.resource = 0x1_4000_0000
        info.align = 16 << 20
        info.interleave_ways = 1
        info.mappings = 1
        info.numa_node = 0
        info.target_node = -1
        info.persistence_domain = PMK_PD_MEMORY_CONTROLLER
        info.deep_flush = PMK_DEEP_FLUSH_NOT_NEEDED
        info.enabled = true
        info.labeled = true
        info.n_devdax_aligns = 2
        info.devdax_aligns.0 = 4096
        info.devdax_aligns.1 = 2 << 20
        return info
    }

    func namespaceInfo() -> pmk_namespace_info {
        var info = pmk_namespace_info()
        setShimString(&info.devname, "namespace0.0")
        setShimString(&info.uuid, "6e1e7a33-9f0a-4b9a-9d0f-0c4c1a1e2b3c")
        setShimString(&info.chardev, "dax0.0")
        info.mode = PMK_NS_MODE_DEVDAX
        info.size = 508 << 20
        info.raw_size = 512 << 20
        info.align = 2 << 20
        info.enabled = true
        return info
    }

    func testRegionFromShimStructCarriesEveryField() {
        let region = Region(shim: regionInfo())
        XCTAssertEqual(region.name, "region0")
        XCTAssertEqual(region.persistenceDomain, .memoryController)
        XCTAssertEqual(region.deepFlush, .notNeeded)
        XCTAssertEqual(region.numaNode, 0)
        XCTAssertEqual(region.align, 16 << 20)
        XCTAssertEqual(region.resource, 0x1_4000_0000)
        XCTAssertEqual(region.devdaxAlignments, [4096, 2 << 20])
        XCTAssertEqual(region.fsdaxAlignments, [])
    }

    func testUnknownValuesBecomeNil() {
        var info = regionInfo()
        info.numa_node = -1
        info.align = UInt.max
        info.resource = UInt64.max
        info.max_available_extent = UInt64.max
        info.persistence_domain = PMK_PD_UNKNOWN
        info.deep_flush = PMK_DEEP_FLUSH_UNAVAILABLE
        let region = Region(shim: info)
        XCTAssertNil(region.numaNode)
        XCTAssertNil(region.align)
        XCTAssertNil(region.resource)
        XCTAssertEqual(region.maxAvailableExtent, region.availableSize)
        XCTAssertEqual(region.persistenceDomain, .unknown)
        XCTAssertEqual(region.deepFlush, .unavailable)
    }

    func testEveryPersistenceDomainAndDeepFlushAnswerMaps() {
        XCTAssertEqual(PersistenceDomain(shim: PMK_PD_CPU_CACHE), .cpuCache)
        XCTAssertEqual(PersistenceDomain(shim: PMK_PD_NONE), .none)
        XCTAssertEqual(DeepFlushCapability(shim: PMK_DEEP_FLUSH_SUPPORTED), .supported)
        XCTAssertEqual(NamespaceMode(shim: PMK_NS_MODE_FSDAX), .fsdax)
        XCTAssertEqual(NamespaceMode(shim: PMK_NS_MODE_RAW), .raw)
        XCTAssertEqual(NamespaceMode(shim: PMK_NS_MODE_SECTOR), .sector)
    }

    func testJSONHasTheContractKeys() throws {
        var region = Region(shim: regionInfo())
        region.mappings = [RegionMapping(dimm: "nmem0", offset: 0, length: 1 << 30)]
        region.namespaces = [Namespace(shim: namespaceInfo())]
        var bus = Bus(name: "ndbus0", provider: "ACPI.NFIT")
        bus.dimms = [DIMM(name: "nmem0", labelsSupported: true, availableLabels: 1000)]
        bus.regions = [region]
        let data = try JSONEncoder().encode(Topology(buses: [bus]))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let jbus = try XCTUnwrap((json["buses"] as? [[String: Any]])?.first)
        XCTAssertEqual(jbus["provider"] as? String, "ACPI.NFIT")
        XCTAssertNotNil(jbus["dimms"] as? [[String: Any]])
        let jregion = try XCTUnwrap((jbus["regions"] as? [[String: Any]])?.first)
        for key in [
            "name", "type", "size", "available_size", "persistence_domain", "deep_flush", "numa_node",
            "mappings", "namespaces",
        ] {
            XCTAssertNotNil(jregion[key], "region key \(key)")
        }
        XCTAssertEqual(jregion["persistence_domain"] as? String, "memory_controller")
        XCTAssertEqual(jregion["deep_flush"] as? String, "not_needed")
        let jmapping = try XCTUnwrap((jregion["mappings"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(["dimm", "offset", "length"]).subtracting(jmapping.keys), [])
        let jns = try XCTUnwrap((jregion["namespaces"] as? [[String: Any]])?.first)
        for key in ["dev", "name", "mode", "size", "uuid", "blockdev", "chardev", "align"] {
            XCTAssertTrue(jns.keys.contains(key), "namespace key \(key)")
        }
        XCTAssertEqual(jns["dev"] as? String, "namespace0.0")
        XCTAssertTrue(jns["name"] is NSNull, "name is ndctl's alternate name, null when none")
        XCTAssertEqual(jregion["dev"] as? String, "region0")
        XCTAssertEqual(jns["mode"] as? String, "devdax")
        XCTAssertEqual(jns["chardev"] as? String, "dax0.0")
        XCTAssertTrue(jns["blockdev"] is NSNull, "absent devices are null, not missing")
    }

    func healthyDIMM() -> (pmk_dimm_info, pmk_dimm_health) {
        var info = pmk_dimm_info()
        setShimString(&info.devname, "nmem0")
        info.enabled = true
        var health = pmk_dimm_health()
        setShimString(&health.id, "cdab-0a-07e0-ffffffff")
        health.dirty_shutdown = 42
        health.failed_flush = true
        health.smart_event = true
        health.smart_supported = true
        health.smart_answered = true
        health.has_health = true
        health.health = PMK_HEALTH_NON_CRITICAL
        health.has_temperature = true
        health.temperature = 23
        health.has_shutdown_state = true
        health.shutdown_dirty = true
        health.has_shutdown_count = true
        health.shutdown_count = 7
        health.thresholds_answered = true
        health.spares_alarm_enabled = true
        health.spares_threshold = 5
        return (info, health)
    }

    func testDIMMHealthUsesNdctlsKeysAndLeavesOutWhatTheDIMMDoesNotSay() throws {
        let (info, h) = healthyDIMM()
        var dimm = DIMM(shim: info)
        dimm.apply(health: h, smart: true)
        let json = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(dimm)) as? [String: Any])
        XCTAssertEqual(json["dev"] as? String, "nmem0")
        XCTAssertEqual(json["id"] as? String, "cdab-0a-07e0-ffffffff")
        XCTAssertEqual(json["dirty_shutdown"] as? Int, 42)
        XCTAssertEqual(json["flag_failed_flush"] as? Bool, true)
        XCTAssertEqual(json["flag_smart_event"] as? Bool, true)
        XCTAssertNil(json["flag_failed_save"], "a flag that is not set is absent, as in ndctl")
        let health = try XCTUnwrap(json["health"] as? [String: Any])
        XCTAssertEqual(health["health_state"] as? String, "non-critical")
        XCTAssertEqual(health["temperature_celsius"] as? Double, 23)
        XCTAssertEqual(health["shutdown_state"] as? String, "dirty")
        XCTAssertEqual(health["shutdown_count"] as? Int, 7)
        XCTAssertEqual(health["alarm_enabled_spares"] as? Bool, true)
        XCTAssertEqual(health["spares_threshold"] as? Int, 5)
        XCTAssertEqual(health["alarm_enabled_media_temperature"] as? Bool, false)
        XCTAssertNil(health["temperature_threshold"], "no threshold where its alarm is off")
        XCTAssertNil(health["spares_percentage"], "a value the DIMM does not report is absent")
        let decoded = try JSONDecoder().decode(DIMM.self, from: JSONEncoder().encode(dimm))
        XCTAssertEqual(decoded, dimm)
    }

    func testHealthIsAbsentWithoutSMARTAndUnknownWhenItFails() {
        var (info, h) = healthyDIMM()
        var plain = DIMM(shim: info)
        plain.apply(health: h, smart: false)
        XCTAssertNil(plain.health, "no SMART command without --health")
        XCTAssertEqual(plain.flags, [.failedFlush, .smartEvent], "flags come from sysfs either way")
        h.smart_answered = false
        var failed = DIMM(shim: info)
        failed.apply(health: h, smart: true)
        XCTAssertEqual(failed.health, DIMMHealth(healthState: "unknown"))
        h.smart_supported = false
        info.enabled = true
        var unsupported = DIMM(shim: info)
        unsupported.apply(health: h, smart: true)
        XCTAssertNil(unsupported.health, "a DIMM without a SMART command has no health object, as in ndctl")
    }

    func testBadBlocksRoundTripAndConvertToBytes() throws {
        var region = Region(shim: regionInfo())
        region.badblockCount = 3
        region.badblocks = [BadBlock(offset: 8, length: 2), BadBlock(offset: 100, length: 1)]
        var namespace = Namespace(shim: namespaceInfo())
        namespace.badblockCount = 0
        namespace.badblocks = []
        region.namespaces = [namespace]
        let decoded = try JSONDecoder().decode(Region.self, from: JSONEncoder().encode(region))
        XCTAssertEqual(decoded, region)
        XCTAssertEqual(BadBlock(offset: 8, length: 2).bytes, 4096..<5120)
    }

    func testJSONRoundTrips() throws {
        var region = Region(shim: regionInfo())
        region.namespaces = [Namespace(shim: namespaceInfo())]
        let topology = Topology(buses: [Bus(name: "ndbus0", provider: "CXL", regions: [region])])
        let decoded = try JSONDecoder().decode(Topology.self, from: JSONEncoder().encode(topology))
        XCTAssertEqual(decoded, topology)
    }

    func testLookupsByName() {
        var region = Region(shim: regionInfo())
        region.namespaces = [Namespace(shim: namespaceInfo())]
        let topology = Topology(buses: [Bus(name: "ndbus0", provider: "ACPI.NFIT", regions: [region])])
        XCTAssertEqual(topology.region(named: "region0")?.size, 1 << 30)
        XCTAssertEqual(topology.namespace(named: "namespace0.0")?.devicePath, "/dev/dax0.0")
        XCTAssertEqual(topology.region(holdingNamespace: "namespace0.0")?.name, "region0")
        XCTAssertNil(topology.region(named: "region9"))
    }

    func testScanWithoutNVDIMMsIsEmptyNotAnError() throws {
        // This machine may or may not have NVDIMMs; a scan must succeed either way.
        let topology = try Topology.scan()
        for region in topology.regions {
            XCTAssertGreaterThan(region.size, 0)
        }
    }
}
