import Foundation
import PMemKit

/// A physical flush target: what a trapped guest flush-hint write is
/// propagated to. One per host region behind the vPMem (its WPQ flush); the
/// benchmark's baseline and tests supply their own.
///
/// `flush()` is called by one thread at a time when the coalescer combines
/// writes (the default), and concurrently from vCPU threads when it does not.
public protocol FlushTarget: AnyObject, Sendable {
    /// What is flushed: `region0`, `fsync:/path`.
    var name: String { get }
    /// Makes every store that reached the target before the call durable.
    func flush() throws
}

/// The WPQ flush of one NVDIMM region (its flush hint addresses, through
/// PMemKit's region deep flush).
public final class RegionWPQFlush: FlushTarget, @unchecked Sendable {
    private let target: RegionDeepFlush

    /// The region, `region0`.
    public var name: String { target.region }

    /// Finds `region` once, so each flush is a write to its hints and nothing else.
    public init(region: String) throws {
        target = try RegionDeepFlush(region: region, operation: "vFHA")
    }

    /// Writes the region's flush hints (`ndctl_region_deep_flush`).
    public func flush() throws {
        try target.flush()
    }
}

/// `fsync` of a file: what a file-backed virtual NVDIMM does for every
/// guest flush (virtio-pmem's flush request). The benchmark's baseline.
public final class FileSyncFlush: FlushTarget, @unchecked Sendable {
    /// `fsync:PATH`.
    public let name: String
    private let fd: Int32

    /// Opens `path` for syncing.
    public init(path: String) throws {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        self.fd = fd
        name = "fsync:\(path)"
    }

    deinit { close(fd) }

    /// `fsync(2)` of the file, which writes back the pages the guest dirtied through the mapping.
    public func flush() throws {
        guard fsync(fd) == 0 else { throw PMemError.system("fsync", errno: errno, detail: name) }
    }
}

/// `msync` of a `file`-backed vPMem mapping: the only way its stores become durable.
final class MappingSyncFlush: FlushTarget, @unchecked Sendable {
    let name: String
    private let mapping: PMemMapping

    init(mapping: PMemMapping) {
        self.mapping = mapping
        name = "msync:\(mapping.path)"
    }

    func flush() throws {
        try mapping.deepFlush()
    }
}
