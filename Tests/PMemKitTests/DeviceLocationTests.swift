import TestSupport
import XCTest

@testable import PMemKit

/// Resolving a device number to its nd bus, region and namespace, on fake
/// sysfs trees shaped like the kernel's.
final class DeviceLocationTests: XCTestCase {
    let dir = TemporaryDirectory()
    let fm = FileManager.default

    /// Builds `<sys>/devices/<devicePath>` and the `<sys>/dev/<kind>/M:m` link to it.
    func makeDevice(kind: String, number: String, devicePath: String, attributes: [String: String] = [:])
        throws
    {
        let sys = dir.path
        try fm.createDirectory(atPath: "\(sys)/devices/\(devicePath)", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(sys)/dev/\(kind)", withIntermediateDirectories: true)
        try fm.createSymbolicLink(
            atPath: "\(sys)/dev/\(kind)/\(number)", withDestinationPath: "\(sys)/devices/\(devicePath)")
        for (path, value) in attributes {
            try value.write(toFile: "\(sys)/devices/\(path)", atomically: false, encoding: .utf8)
        }
    }

    func dev(_ major: dev_t, _ minor: dev_t) -> dev_t { (major << 8) | minor }

    func testFsdaxBlockDeviceResolvesThroughItsPfnDevice() throws {
        let bus = "platform/ACPI0012:00/ndbus0"
        try makeDevice(
            kind: "block", number: "259:0", devicePath: "\(bus)/region0/pfn0.1/block/pmem0",
            attributes: ["\(bus)/region0/pfn0.1/namespace": "namespace0.0\n"])
        let loc = try XCTUnwrap(
            try DeviceLocation.of(device: dev(259, 0), isCharacterDevice: false, sysfs: dir.path))
        XCTAssertEqual(
            loc, DeviceLocation(bus: "ndbus0", region: "region0", namespace: "namespace0.0", device: "pmem0"))
    }

    func testRawNamespaceBlockDevice() throws {
        try makeDevice(kind: "block", number: "259:1", devicePath: "ndbus1/region3/namespace3.0/block/pmem3")
        let loc = try XCTUnwrap(
            try DeviceLocation.of(device: dev(259, 1), isCharacterDevice: false, sysfs: dir.path))
        XCTAssertEqual(loc.region, "region3")
        XCTAssertEqual(loc.namespace, "namespace3.0")
        XCTAssertEqual(loc.device, "pmem3")
    }

    func testDevdaxCharacterDevice() throws {
        try makeDevice(
            kind: "char", number: "252:0", devicePath: "ndbus0/region1/dax1.1/dax1.0",
            attributes: ["ndbus0/region1/dax1.1/namespace": "namespace1.0"])
        let loc = try XCTUnwrap(
            try DeviceLocation.of(device: dev(252, 0), isCharacterDevice: true, sysfs: dir.path))
        XCTAssertEqual(
            loc, DeviceLocation(bus: "ndbus0", region: "region1", namespace: "namespace1.0", device: "dax1.0")
        )
    }

    func testPartitionOfAPMemDevice() throws {
        try makeDevice(
            kind: "block", number: "259:2", devicePath: "ndbus0/region0/namespace0.0/block/pmem0/pmem0p1")
        let loc = try XCTUnwrap(
            try DeviceLocation.of(device: dev(259, 2), isCharacterDevice: false, sysfs: dir.path))
        XCTAssertEqual(loc.device, "pmem0p1")
        XCTAssertEqual(loc.region, "region0")
    }

    func testOrdinaryDiskIsNotOnARegion() throws {
        try makeDevice(
            kind: "block", number: "254:0", devicePath: "pci0000:00/0000:00:04.0/virtio1/block/vda")
        XCTAssertNil(try DeviceLocation.of(device: dev(254, 0), isCharacterDevice: false, sysfs: dir.path))
    }

    func testUnknownDeviceNumberIsNotOnARegion() throws {
        XCTAssertNil(try DeviceLocation.of(device: dev(1, 99), isCharacterDevice: true, sysfs: dir.path))
    }

    func testDeviceNumbersSplitLikeGlibc() {
        let d: dev_t = (259 << 8) | 7 | (0x1234 << 20)
        XCTAssertEqual(DeviceNumber.major(d), 259)
        XCTAssertEqual(DeviceNumber.minor(d), 7 | (0x1234 << 8))
    }
}
