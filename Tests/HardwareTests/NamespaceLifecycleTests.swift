import Foundation
import PMemKit
import XCTest

/// Namespaces on a real (or QEMU-emulated) NVDIMM: create in every mode,
/// map, persist, deep-flush, read back, destroy.
final class NamespaceLifecycleTests: XCTestCase {
    let janitor = NamespaceJanitor()
    let size: UInt64 = 64 << 20

    override func tearDown() {
        janitor.cleanUp()
    }

    func testTopologyReportsRegionsWithTheirPersistenceDomain() throws {
        let region = try HardwareGate.region(withFree: 0)
        XCTAssertGreaterThan(region.size, 0)
        XCTAssertNotEqual(
            region.deepFlush, .unavailable, "a region with DIMM mappings has a deep_flush attribute")
        if let expected = HardwareGate.expectedPersistence {
            XCTAssertEqual(region.persistenceDomain, expected)
        }
    }

    func testDevdaxNamespaceMapsPersistsAndReadsBack() throws {
        let region = try HardwareGate.region(withFree: size)
        let ns = try janitor.create(
            in: region.name, NamespaceRequest(mode: .devdax, size: size, name: "hw-devdax"))
        XCTAssertEqual(ns.mode, .devdax)
        XCTAssertEqual(ns.altName, "hw-devdax")
        XCTAssertTrue(ns.enabled, "a devdax namespace bound through its dax device is enabled")
        let device = try XCTUnwrap(
            ns.chardev.map { "/dev/\($0)" }, "a devdax namespace has a character device")
        let pattern = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        do {
            let m = try PMemMapping(path: device, options: .init(requirePMem: true))
            XCTAssertEqual(m.kind, .devdax)
            XCTAssertEqual(m.backing, .pmem)
            XCTAssertEqual(m.location?.region, region.name)
            XCTAssertEqual(m.location?.namespace, ns.name)
            XCTAssertEqual(m.persistenceDomain, region.persistenceDomain)
            XCTAssertEqual(m.size, Int(ns.size))
            pattern.withUnsafeBytes { m.copyPersist(toOffset: 4096, from: $0.baseAddress!, count: $0.count) }
            m.base.storeBytes(of: 0xC0FFEE, toByteOffset: m.size - 8, as: UInt64.self)
            m.persist(offset: m.size - 8, length: 8)
            let flushed = try m.deepFlush()
            XCTAssertEqual(flushed, region.deepFlush == .supported ? [region.name] : [])
        }
        let again = try PMemMapping(path: device, options: .init(readOnly: true))
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: again.base + 4096, count: pattern.count)), pattern)
        XCTAssertEqual(again.base.load(fromByteOffset: again.size - 8, as: UInt64.self), 0xC0FFEE)
    }

    func testFsdaxNamespaceMountedWithDaxMapsWithMapSync() throws {
        let region = try HardwareGate.region(withFree: size)
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .fsdax, size: size))
        XCTAssertEqual(ns.mode, .fsdax)
        XCTAssertTrue(ns.enabled, "an fsdax namespace bound through its pfn device is enabled")
        let blockdev = try XCTUnwrap(ns.blockdev, "an fsdax namespace has a block device")
        let fs = try DaxMount(blockdev: blockdev)
        let file = "\(fs.directory)/pool"
        do {
            let m = try PMemMapping(
                path: file, options: .init(size: 4 << 20, create: true, requirePMem: true))
            XCTAssertEqual(m.kind, .fsdax, "MAP_SYNC must succeed on mount -o dax")
            XCTAssertEqual(m.backing, .pmem)
            XCTAssertEqual(m.location?.region, region.name)
            XCTAssertEqual(m.location?.device, blockdev)
            m.setPersist(offset: 12345, value: 0x5A, count: 1000)
            try m.deepFlush()
            // Provisioning must refuse to destroy a mounted namespace.
            XCTAssertThrowsError(try Provisioner.destroyNamespace(ns.name)) { error in
                XCTAssertEqual((error as? PMemError)?.kind, .busy)
            }
        }
        try fs.unmountNow()
        try fs.mountAgain()
        do {
            // Scoped: a mapping still alive would keep the file system busy.
            let again = try PMemMapping(path: file, options: .init(readOnly: true))
            XCTAssertTrue(
                UnsafeRawBufferPointer(start: again.base + 12345, count: 1000).allSatisfy { $0 == 0x5A })
        }
        try fs.unmountNow()
        try Provisioner.destroyNamespace(ns.name)
        janitor.forget(ns.name)
    }

    func testRawNamespaceHasABlockDeviceAndIsDestroyed() throws {
        let region = try HardwareGate.region(withFree: size)
        let before = try XCTUnwrap(try Topology.scan().region(named: region.name))
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .raw, size: size))
        XCTAssertEqual(ns.mode, .raw)
        XCTAssertNotNil(ns.blockdev)
        XCTAssertEqual(ns.size, size)
        try Provisioner.destroyNamespace(ns.name)
        janitor.forget(ns.name)
        let after = try Topology.scan()
        XCTAssertNil(after.namespace(named: ns.name).flatMap { $0.size > 0 ? $0 : nil })
        XCTAssertEqual(
            after.region(named: region.name)?.availableSize,
            before.labeled ? before.availableSize : region.size)
    }

    func testReconfigureGivesANamespaceANewMode() throws {
        let region = try HardwareGate.region(withFree: size)
        let raw = try janitor.create(in: region.name, NamespaceRequest(mode: .raw, size: size))
        let dax = try Provisioner.reconfigureNamespace(raw.name, NamespaceRequest(mode: .devdax))
        XCTAssertEqual(dax.name, raw.name)
        XCTAssertEqual(dax.mode, .devdax)
        XCTAssertNotNil(dax.chardev)
        XCTAssertEqual(dax.rawSize, size, "reconfiguring keeps the namespace's capacity")
    }

    func testDestroyRefusesAMappedNamespaceUnlessForced() throws {
        let region = try HardwareGate.region(withFree: size)
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .devdax, size: size))
        let m = try PMemMapping(path: "/dev/\(try XCTUnwrap(ns.chardev))")
        XCTAssertThrowsError(try Provisioner.destroyNamespace(ns.name)) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .busy)
            XCTAssertTrue("\(error)".contains("is in use (pid \(getpid())"), "\(error)")
        }
        XCTAssertNotNil(try Topology.scan().namespace(named: ns.name), "a refused destroy changes nothing")
        // Forced, it goes even while mapped (the mapping is not touched again).
        try Provisioner.destroyNamespace(ns.name, force: true)
        janitor.forget(ns.name)
        XCTAssertNil(try Topology.scan().namespace(named: ns.name))
        withExtendedLifetime(m) {}
    }

    func testOversizedRequestIsRefusedAndNothingChanges() throws {
        let region = try HardwareGate.region(withFree: size)
        let tooBig = region.maxAvailableExtent + (1 << 30)
        XCTAssertThrowsError(
            try Provisioner.createNamespace(
                region: region.name, NamespaceRequest(mode: .devdax, size: tooBig))
        ) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .invalidArgument)
        }
        XCTAssertEqual(try Topology.scan().region(named: region.name), region)
    }

    func testRegionDeepFlushDoesWhatTheAttributeSays() throws {
        let region = try HardwareGate.region(withFree: 0)
        let capability = try Provisioner.deepFlush(region: region.name)
        XCTAssertEqual(capability, region.deepFlush)
    }

    func testPersistPathFollowsTheRegionPersistenceDomain() throws {
        let region = try HardwareGate.region(withFree: size)
        let ns = try janitor.create(in: region.name, NamespaceRequest(mode: .devdax, size: size))
        let m = try PMemMapping(path: "/dev/\(try XCTUnwrap(ns.chardev))")
        if region.persistenceDomain == .cpuCache {
            XCTAssertEqual(m.flushMethod, "sfence only (eADR)")
        } else {
            XCTAssertEqual(m.persistPath, PersistPath.standard)
            XCTAssertNotEqual(m.persistPath?.flush, FlushInstruction.none)
        }
    }
}
