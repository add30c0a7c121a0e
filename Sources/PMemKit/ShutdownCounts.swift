internal import CPMemShim
import Foundation

/// A device under a pool and its count of unsafe shutdowns: what a pool
/// records at open and clean close, so that the next open can tell whether the
/// machine lost power without the platform saving what the pool's stores had
/// left in flight (an ADR or GPF failure), in which case stores the program saw
/// as durable may be gone.
public struct ShutdownCount: Codable, Sendable, Equatable {
    /// Where the count came from.
    public enum Source: String, Codable, Sendable {
        /// The DIMM's SMART `shutdown_count`, read when asked.
        case smart
        /// The kernel's `dirty_shutdown` of a DIMM, read at boot.
        case kernel
        /// A CXL memdev's Get Health Info `dirty_shutdowns`, read when asked.
        case cxlHealth = "cxl_health"
    }

    /// The device wherever it is plugged: `nvdimm:<unique id>`, `cxl:<serial>`.
    public var id: String
    /// Its name on this machine now: `nmem1`, `mem0`.
    public var device: String
    /// Its unsafe-shutdown count.
    public var count: UInt64
    /// Where the count came from.
    public var source: Source

    /// Creates a count.
    public init(id: String, device: String, count: UInt64, source: Source) {
        self.id = id
        self.device = device
        self.count = count
        self.source = source
    }
}

/// Finds the devices under a path and reads their unsafe-shutdown counts.
public enum ShutdownCounts {
    /// The NVDIMMs or CXL memdevs under `path` (a file on a file system on
    /// PMem, a namespace's block device or a devdax device) that report a count.
    /// Empty when `path` is not on PMem, or its devices count nothing (QEMU's
    /// emulated NVDIMMs and CXL memdevs do not).
    public static func of(path: String) throws -> [ShutdownCount] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw PMemError.system("stat", errno: errno, detail: path) }
        let location: DeviceLocation?
        switch st.st_mode & S_IFMT {
        case S_IFCHR: location = try DeviceLocation.of(device: st.st_rdev, isCharacterDevice: true)
        case S_IFBLK: location = try DeviceLocation.of(device: st.st_rdev, isCharacterDevice: false)
        default: location = try DeviceLocation.of(device: st.st_dev, isCharacterDevice: false)
        }
        guard let region = location?.region else { return [] }
        return try of(region: region)
    }

    /// The devices behind nd region `region` with their counts.
    public static func of(region: String) throws -> [ShutdownCount] {
        let ctx = try NDContext()
        var counts: [ShutdownCount] = []
        var buffer = [pmk_shutdown_count](repeating: pmk_shutdown_count(), count: 64)
        let n = buffer.withUnsafeMutableBufferPointer {
            pmk_region_shutdown_counts(ctx.raw, region, $0.baseAddress, Int32($0.count))
        }
        guard n >= 0 else {
            throw PMemError(
                .notFound, operation: "shutdown counts", errno: -n, detail: "no region named \(region)")
        }
        for entry in buffer.prefix(Int(n)) {
            let source: ShutdownCount.Source
            switch entry.source {
            case PMK_USC_SMART: source = .smart
            case PMK_USC_KERNEL: source = .kernel
            default: continue
            }
            counts.append(
                ShutdownCount(
                    id: "nvdimm:" + shimString(entry.id), device: shimString(entry.devname),
                    count: entry.count,
                    source: source))
        }
        // A CXL region's nd DIMMs are bridges that count nothing: the memdevs behind it do.
        // Where every DIMM counted, no CXL walk is needed (this runs at each open and close).
        guard counts.count < Int(n) else { return counts }
        let cxl = CXLTopology.scan(ctx)
        if let cxlRegion = cxl.region(backingNDRegion: region) {
            for memdev in cxlRegion.targets.compactMap(\.memdev) {
                guard let handle = memdevHandle(memdev, ctx: ctx) else { continue }
                var health = pmk_cxl_memdev_health()
                pmk_cxl_memdev_get_health(handle, &health)
                guard health.answered else { continue }
                let serial = cxl.memdevs.first { $0.memdev == memdev }?.serial ?? 0
                counts.append(
                    ShutdownCount(
                        id: String(format: "cxl:0x%llx", serial), device: memdev,
                        count: UInt64(health.dirty_shutdowns), source: .cxlHealth))
            }
        }
        return counts
    }

    private static func memdevHandle(_ name: String, ctx: NDContext) -> OpaquePointer? {
        var memdev = pmk_cxl_memdev_first(ctx.raw)
        while let m = memdev {
            var info = pmk_cxl_memdev_info()
            pmk_cxl_memdev_get_info(m, &info)
            if shimString(info.devname) == name { return m }
            memdev = pmk_cxl_memdev_next(m)
        }
        return nil
    }
}
