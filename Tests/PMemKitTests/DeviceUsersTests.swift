import TestSupport
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

    func testAMappingPastTheFirstPageOfMapsIsFound() throws {
        // /proc files report a size of at most a page: read with
        // String(contentsOfFile:), a maps file of thousands of lines ended
        // after 4 KiB, and a device mapped past them was not seen as in use.
        let dir = TemporaryDirectory()
        let path = dir.makeFile("mapped-device", size: 4096)
        let fd = open(path, O_RDWR | O_CLOEXEC)
        let file = try XCTUnwrap(mmap(nil, 4096, PROT_READ, MAP_SHARED, fd, 0))
        close(fd)
        defer { munmap(file, 4096) }
        // Mapped after it, these lie below it (mappings grow down), so its line comes after theirs.
        var others: [UnsafeMutableRawPointer] = []
        for i in 0..<3000 {
            // Alternate protections so neighbours do not merge into one line.
            let protection = i % 2 == 0 ? PROT_READ : PROT_READ | PROT_WRITE
            others.append(try XCTUnwrap(mmap(nil, 4096, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)))
        }
        defer { for p in others { munmap(p, 4096) } }
        let maps = try XCTUnwrap(KernelText.read("/proc/self/maps"))
        XCTAssertGreaterThan(maps.utf8.count, 100_000)
        XCTAssertEqual(DeviceUsers.mapped([path], maps: maps), path)
        let user = try XCTUnwrap(DeviceUsers.openers(of: [path], proc: "/proc"))
        XCTAssertTrue(user.hasPrefix("pid \(getpid()) "), user)
        XCTAssertTrue(user.hasSuffix("has \(path) mapped"), user)
    }
}
