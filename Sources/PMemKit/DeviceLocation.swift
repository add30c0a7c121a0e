internal import CPMemShim
import Foundation

/// Where a device sits in the libnvdimm tree: bus, region, namespace.
public struct DeviceLocation: Codable, Sendable, Equatable {
    /// `ndbus0`.
    public var bus: String
    /// `region0`.
    public var region: String
    /// `namespace0.0`, when one was found.
    public var namespace: String?
    /// The device itself: `pmem0`, `pmem0p1`, `dax0.0`.
    public var device: String

    /// Creates a location.
    public init(bus: String, region: String, namespace: String?, device: String) {
        self.bus = bus
        self.region = region
        self.namespace = namespace
        self.device = device
    }

    /// The nd location of a device number, or `nil` when it is not under an nd region.
    ///
    /// - Parameter sysfs: the sysfs mount point; tests point it at a fake tree.
    public static func of(
        device: dev_t, isCharacterDevice: Bool, sysfs: String = "/sys"
    ) throws -> DeviceLocation? {
        var out = pmk_dev_location()
        let rc = pmk_sysfs_locate(
            sysfs, isCharacterDevice, DeviceNumber.major(device), DeviceNumber.minor(device), &out)
        if rc == -ENOENT { return nil }
        guard rc == 0 else {
            throw PMemError.system("locate device", errno: -rc)
        }
        return DeviceLocation(
            bus: shimString(out.bus), region: shimString(out.region), namespace: nonEmpty(shimString(out.ns)),
            device: shimString(out.device))
    }
}

/// Splits Linux device numbers (glibc's `major()`/`minor()` are macros Swift cannot see).
public enum DeviceNumber {
    /// The major number of `dev`.
    public static func major(_ dev: dev_t) -> UInt32 {
        UInt32(truncatingIfNeeded: ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff))
    }

    /// The minor number of `dev`.
    public static func minor(_ dev: dev_t) -> UInt32 {
        UInt32(truncatingIfNeeded: (dev & 0xff) | ((dev >> 12) & ~0xff))
    }
}
