import Foundation
import PMemKit

extension MachineInfo {
    /// This machine, with the backing the suite ran on.
    static func current(backing: String) -> MachineInfo {
        MachineInfo(
            cpu: CPUFeatures.current.brand.isEmpty ? CPUFeatures.current.vendor : CPUFeatures.current.brand,
            cores: ProcessInfo.processInfo.activeProcessorCount, backing: backing,
            virtualized: hypervisor())
    }

    /// The hypervisor's name from DMI or the CPU flag, or `none`.
    static func hypervisor() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard cpuinfo.contains(" hypervisor") else { return "none" }
        let vendor =
            (try? String(contentsOfFile: "/sys/class/dmi/id/sys_vendor", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return vendor.isEmpty ? "yes" : vendor
    }
}
