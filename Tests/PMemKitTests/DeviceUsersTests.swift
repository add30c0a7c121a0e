import XCTest

@testable import PMemKit

/// Who uses a namespace's device, read from the kernel's text (the parsers
/// tools/fuzz drives with arbitrary text: fuzz-sysfs-text).
final class DeviceUsersTests: XCTestCase {
    func testAMountOfTheDeviceOrOfAPartitionIsFound() {
        let mounts = "proc /proc proc rw 0 0\n/dev/pmem0p1 /mnt/pmem ext4 rw,dax=always 0 0\n"
        XCTAssertEqual(DeviceUsers.mountPoint(of: ["/dev/pmem0"], mounts: mounts), "/mnt/pmem")
        XCTAssertNil(DeviceUsers.mountPoint(of: ["/dev/pmem1"], mounts: mounts))
        XCTAssertNil(DeviceUsers.mountPoint(of: ["/dev/pmem0"], mounts: "garbage\n\n \n"))
    }

    func testAMappingCountsOnlyForTheDeviceItNamesWhole() {
        let maps =
            "7f2a4c000000-7f2a8c000000 rw-s 00000000 00:06 312                        /dev/dax0.10\n"
            + "7f2a8c000000-7f2a8c021000 r--p 00000000 fd:01 1048                       /usr/lib/libc.so.6\n"
        XCTAssertNil(DeviceUsers.mapped(["/dev/dax0.1"], maps: maps), "dax0.10 is not dax0.1")
        XCTAssertEqual(DeviceUsers.mapped(["/dev/dax0.1", "/dev/dax0.10"], maps: maps), "/dev/dax0.10")
        XCTAssertNil(DeviceUsers.mapped(["/dev/dax0.10"], maps: "/dev/dax0.10\n"), "not a maps line")
    }

    func testADaxDeviceSizeIsAPositiveDecimalNumber() {
        XCTAssertEqual(PMemMapping.sizeAttribute("4294967296\n"), 4_294_967_296)
        for text in ["", "\n", "0\n", "-4096\n", "4K\n", "0x1000\n", "99999999999999999999\n"] {
            XCTAssertNil(PMemMapping.sizeAttribute(text), text)
        }
    }
}
