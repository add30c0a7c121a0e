internal import CPMemShim
import Foundation

/// The bytes of a file or device the kernel knows to be bad (media errors,
/// poison), as ranges from the start of that file or device. Reading them on
/// PMem faults (SIGBUS through a mapping, EIO through read); writing a whole
/// bad sector through the block device or file system clears it.
public enum BadBlocks {
    /// `path`'s bad byte ranges, sorted: a namespace block device's own list
    /// (`/sys/class/block/pmemN/badblocks`), a devdax device's namespace list, or for
    /// a regular file its blocks on such a device (found with FIEMAP). Empty
    /// off PMem, or where nothing is bad.
    public static func of(path: String) throws -> [Range<UInt64>] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            // Nothing is known bad of a path that is not there; its caller's open says so.
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw PMemError.system("stat", errno: errno, detail: path)
        }
        switch st.st_mode & S_IFMT {
        case S_IFBLK:
            guard let device = try DeviceLocation.of(device: st.st_rdev, isCharacterDevice: false)?.device
            else { return [] }
            return blockDevice(device)
        case S_IFCHR:
            guard let location = try DeviceLocation.of(device: st.st_rdev, isCharacterDevice: true),
                let name = location.namespace
            else { return [] }
            return try namespace(name)
        case S_IFREG:
            guard let device = try DeviceLocation.of(device: st.st_dev, isCharacterDevice: false)?.device
            else { return [] }
            let bad = blockDevice(device)
            guard !bad.isEmpty else { return [] }
            return try fileRanges(path, overlapping: bad)
        default:
            return []
        }
    }

    /// A namespace's bad ranges, placed as ndctl places them (a devdax one's
    /// from the start of its data), in bytes; only that namespace is read.
    static func namespace(_ name: String) throws -> [Range<UInt64>] {
        let ctx = try NDContext()
        guard let handle = pmk_namespace_find(ctx.raw, name) else { return [] }
        let read = BadBlock.shimList { pmk_namespace_badblocks(handle, $0, $1, $2, $3) }
        guard read.rc == 0 else { throw PMemError.system("badblocks", errno: -read.rc, detail: name) }
        return read.ranges.map(\.bytes)
    }

    /// A block device's bad ranges, in bytes from its start; a partition's from
    /// the partition's start (its disk keeps the list).
    static func blockDevice(_ name: String) -> [Range<UInt64>] {
        let own = "/sys/class/block/\(name)"
        if let text = KernelText.read(own + "/badblocks") { return parse(text) }
        // A partition: the disk's list, shifted by the partition's start, clipped to its size.
        guard
            let start = KernelText.read(own + "/start").flatMap({
                UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }),
            let sectors = KernelText.read(own + "/size").flatMap({
                UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }),
            let disk = URL(fileURLWithPath: own).resolvingSymlinksInPath().deletingLastPathComponent()
                .lastPathComponent as String?,
            let text = KernelText.read("/sys/class/block/\(disk)/badblocks")
        else { return [] }
        let window = (start << 9)..<((start + sectors) << 9)
        return parse(text).compactMap { range in
            let clipped = range.clamped(to: window)
            return clipped.isEmpty
                ? nil : (clipped.lowerBound - window.lowerBound)..<(clipped.upperBound - window.lowerBound)
        }
    }

    /// `badblocks` text (`SECTOR COUNT` a line) as byte ranges.
    package static func parse(_ text: String) -> [Range<UInt64>] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 2, let sector = UInt64(fields[0]), let count = UInt64(fields[1]) else {
                return nil
            }
            return (sector << 9)..<((sector + count) << 9)
        }.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// The byte ranges of the file at `path` whose blocks lie in `bad` (device bytes).
    package static func fileRanges(_ path: String, overlapping bad: [Range<UInt64>]) throws -> [Range<UInt64>]
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        defer { close(fd) }
        var capacity = 256
        while true {
            var extents = [pmk_extent](repeating: pmk_extent(), count: capacity)
            let n = extents.withUnsafeMutableBufferPointer {
                pmk_file_extents(fd, $0.baseAddress, Int32(capacity))
            }
            guard n >= 0 else {
                throw PMemError.system(
                    "FIEMAP", errno: -n,
                    detail: "\(path): where its blocks lie cannot be told, so neither its bad ones")
            }
            if Int(n) > capacity {
                capacity = Int(n)
                continue
            }
            var out: [Range<UInt64>] = []
            for e in extents.prefix(Int(n)) {
                let onDevice = e.physical..<(e.physical + e.length)
                for range in bad where range.overlaps(onDevice) {
                    let clipped = range.clamped(to: onDevice)
                    out.append(
                        (clipped.lowerBound - e.physical + e.logical)..<(clipped.upperBound - e.physical
                            + e.logical))
                }
            }
            return out.sorted { $0.lowerBound < $1.lowerBound }
        }
    }

    /// `path` opened with O_DIRECT added to `flags` (reads and writes go to the
    /// device a sector at a time, past the page cache: a bad sector fails only
    /// the I/O that covers it, and a write over it clears it); fd or -errno.
    package static func openDirect(_ path: String, flags: Int32) -> Int32 {
        pmk_open_direct(path, flags)
    }
}
