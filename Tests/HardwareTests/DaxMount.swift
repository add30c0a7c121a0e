import Foundation
import XCTest

/// An ext4 file system made on an fsdax namespace's block device and mounted
/// with `-o dax`, so files there map with MAP_SYNC (or, with `dax: false`,
/// through the page cache: `-o dax=never`).
final class DaxMount {
    let device: String
    let directory: String
    private let mountTool: String
    private let umountTool: String
    private let options: String
    private(set) var mounted = false

    /// Makes the file system on `/dev/<blockdev>` and mounts it.
    init(blockdev: String, dax: Bool = true) throws {
        guard let mkfs = findTool(["/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4"]),
            let mount = findTool(["/bin/mount", "/usr/bin/mount"]),
            let umount = findTool(["/bin/umount", "/usr/bin/umount"])
        else {
            throw HardwareGate.unavailableError("mkfs.ext4 or mount is missing")
        }
        device = "/dev/\(blockdev)"
        directory = NSTemporaryDirectory() + "pmem-dax-\(blockdev)-\(getpid())"
        mountTool = mount
        umountTool = umount
        options = dax ? "dax" : "dax=never"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try runTool(mkfs, ["-q", "-F", "-b", "4096", device])
        try mountAgain()
    }

    deinit { if mounted { try? unmountNow() } }

    /// Mounts the file system (again) with its options.
    func mountAgain() throws {
        try runTool(mountTool, ["-o", options, device, directory])
        mounted = true
    }

    /// Unmounts; every mapping of a file there must be gone first.
    func unmountNow() throws {
        try unmount(umountTool, directory)
        mounted = false
    }
}
