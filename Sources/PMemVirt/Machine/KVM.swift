internal import CKVMShim
import Foundation
import PMemKit

/// The KVM system device (`/dev/kvm`): capabilities, the size of a vCPU's
/// `kvm_run` page and the CPUID KVM can give a guest.
public final class KVM: Sendable {
    /// Where Linux puts the KVM device.
    public static let defaultPath = "/dev/kvm"

    /// The open system file descriptor.
    let fd: Int32
    /// Bytes of each vCPU's `kvm_run` mapping (`KVM_GET_VCPU_MMAP_SIZE`).
    let vcpuMapSize: Int
    /// The device path that was opened.
    public let path: String

    /// Opens `path` and checks the API version and the capabilities PMemVirt
    /// relies on (read-only memslots, `immediate_exit`, CPUID).
    ///
    /// Throws a `PMemError` naming what is missing.
    public init(path: String = KVM.defaultPath) throws {
        let fd = pmk_kvm_open(path)
        guard fd >= 0 else {
            let detail = fd == -EPROTO ? "\(path): KVM API version is not \(PMK_KVM_API_VERSION)" : path
            throw PMemError.system("open KVM", errno: fd == -EPROTO ? EPROTO : -fd, detail: detail)
        }
        var ok = false
        defer { if !ok { pmk_kvm_close(fd) } }
        for (cap, name) in Self.required {
            guard pmk_kvm_check_extension(fd, cap) > 0 else {
                throw PMemError(
                    .unsupported, operation: "open KVM", detail: "\(path) lacks \(name), which PMemVirt needs"
                )
            }
        }
        let size = pmk_kvm_vcpu_mmap_size(fd)
        guard size > 0 else { throw PMemError.system("KVM_GET_VCPU_MMAP_SIZE", errno: -size) }
        self.fd = fd
        self.vcpuMapSize = Int(size)
        self.path = path
        ok = true
    }

    deinit { pmk_kvm_close(fd) }

    /// The capabilities without which no PMemVirt VM can run, with their names.
    private static let required: [(pmk_kvm_cap, String)] = [
        (PMK_KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM (read-only memslots trap the vFHA)"),
        (PMK_KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT (stopping vCPUs)"),
        (PMK_KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID (setting the guest's CPUID)"),
    ]

    /// The most vCPUs one VM may have here.
    public var maxVCPUs: Int { Int(max(1, pmk_kvm_check_extension(fd, PMK_KVM_CAP_MAX_VCPUS))) }

    /// The CPUID leaves KVM can present to a guest (`KVM_GET_SUPPORTED_CPUID`).
    func supportedCPUID() throws -> [kvm_cpuid_entry2] {
        var capacity: UInt32 = 64
        while true {
            let bytes = pmk_kvm_cpuid_size(capacity)
            let buffer = UnsafeMutableRawPointer.allocate(
                byteCount: bytes, alignment: MemoryLayout<kvm_cpuid_entry2>.alignment)
            defer { buffer.deallocate() }
            let table = buffer.bindMemory(to: kvm_cpuid2.self, capacity: 1)
            let rc = pmk_kvm_get_supported_cpuid(fd, table, capacity)
            if rc == -E2BIG && capacity < 4096 {
                capacity *= 2
                continue
            }
            guard rc == 0 else { throw PMemError.system("KVM_GET_SUPPORTED_CPUID", errno: -rc) }
            let entries = pmk_kvm_cpuid_entries(table)!
            return Array(UnsafeBufferPointer(start: entries, count: Int(table.pointee.nent)))
        }
    }

    /// Whether a VM can run here, and if not, why: the gate of the KVM tests
    /// and the first thing `pmemctl vm run` checks.
    public static func availability(path: String = KVM.defaultPath) -> Result<KVM, PMemError> {
        do {
            return .success(try KVM(path: path))
        } catch let error as PMemError {
            return .failure(error)
        } catch {
            return .failure(PMemError(.system, operation: "open KVM", detail: "\(error)"))
        }
    }
}
