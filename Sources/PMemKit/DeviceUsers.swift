import Foundation

/// Who is using a namespace's device: a mount, an open file descriptor, or a
/// mapping. Destroying or reconfiguring a namespace under a user loses data
/// or kills the user with SIGBUS, so provisioning refuses unless forced.
enum DeviceUsers {
    /// A description of the first user found (`mounted on /mnt/pmem`, `pid 42 (app) has /dev/dax0.0 mapped`), or `nil`.
    static func firstUser(of namespace: Namespace, proc: String = "/proc") -> String? {
        let devices = [namespace.blockdev, namespace.chardev].compactMap { $0 }.map { "/dev/\($0)" }
        guard !devices.isEmpty else { return nil }
        if let mount = mountPoint(of: devices, proc: proc) { return "mounted on \(mount)" }
        return openers(of: devices, proc: proc)
    }

    /// The mount point of a device or one of its partitions (`/dev/pmem0`, `/dev/pmem0p1`).
    static func mountPoint(of devices: [String], proc: String) -> String? {
        guard let mounts = KernelText.read("\(proc)/self/mounts") else {
            return nil
        }
        return mountPoint(of: devices, mounts: mounts)
    }

    /// The mount point of a device or one of its partitions in the text of `/proc/self/mounts`.
    static func mountPoint(of devices: [String], mounts: String) -> String? {
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { continue }
            let source = String(fields[0])
            if devices.contains(where: { source == $0 || source.hasPrefix($0 + "p") }) {
                return String(fields[1])
            }
        }
        return nil
    }

    /// The first of `devices` a process maps, from the text of its
    /// `/proc/PID/maps`: the path field of a line, compared whole
    /// (`/dev/dax0.1` is not mapped where only `/dev/dax0.10` is).
    static func mapped(_ devices: [String], maps: String) -> String? {
        for line in maps.split(separator: "\n") {
            // address perms offset dev inode path: the path is what follows the fifth field.
            let fields = line.split(separator: " ", maxSplits: 5)
            guard fields.count == 6 else { continue }
            let path = fields[5].trimmingCharacters(in: .whitespaces)
            if let device = devices.first(where: { $0 == path }) { return device }
        }
        return nil
    }

    /// A process with one of the devices open or mapped.
    static func openers(of devices: [String], proc: String) -> String? {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: proc) else { return nil }
        // This process counts too: a mapping it holds would be torn away.
        for pid in entries.compactMap(Int32.init) {
            let name =
                KernelText.read("\(proc)/\(pid)/comm")?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            if let fds = try? fm.contentsOfDirectory(atPath: "\(proc)/\(pid)/fd") {
                for fd in fds {
                    if let target = try? fm.destinationOfSymbolicLink(atPath: "\(proc)/\(pid)/fd/\(fd)"),
                        devices.contains(target)
                    {
                        return "pid \(pid) (\(name)) has \(target) open"
                    }
                }
            }
            if let maps = KernelText.read("\(proc)/\(pid)/maps"),
                let device = mapped(devices, maps: maps)
            {
                return "pid \(pid) (\(name)) has \(device) mapped"
            }
        }
        return nil
    }
}
