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
        let cpuinfo = KernelText.read("/proc/cpuinfo") ?? ""
        guard cpuinfo.contains(" hypervisor") else { return "none" }
        let vendor =
            KernelText.read("/sys/class/dmi/id/sys_vendor")?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return vendor.isEmpty ? "yes" : vendor
    }
}
