internal import CKVMShim

/// A guest's port I/O access that left the guest.
public struct PortIOAccess: Sendable, Equatable {
    /// The port.
    public var port: UInt16
    /// `out` (guest → VMM) or `in`.
    public var isWrite: Bool
    /// Bytes per element: 1, 2 or 4.
    public var size: Int
    /// Elements (more than 1 for `rep outs`/`rep ins`).
    public var count: Int
    /// The first element an `out` wrote.
    public var value: UInt64
}

/// A guest's memory access that left the guest: no memslot, or a write to
/// a read-only one.
public struct MMIOAccess: Sendable, Equatable {
    /// The guest-physical address.
    public var gpa: UInt64
    /// Write or read.
    public var isWrite: Bool
    /// Bytes, 1 to 8.
    public var length: Int
    /// What a write stored (little-endian, zero-extended).
    public var value: UInt64
}

/// One KVM exit, decoded from `kvm_run` by the shim.
enum VMExit: Equatable {
    case portIO(PortIOAccess)
    case mmio(MMIOAccess)
    case halt
    case shutdown
    case internalError(suberror: UInt32, data: [UInt64], instruction: [UInt8])
    case failEntry(hardwareReason: UInt64)
    case interrupted
    case other(UInt32)

    init(_ raw: pmk_kvm_exit) {
        switch raw.reason {
        case UInt32(PMK_KVM_EXIT_IO.rawValue):
            self = .portIO(
                PortIOAccess(
                    port: raw.io.port, isWrite: raw.io.out, size: Int(raw.io.size), count: Int(raw.io.count),
                    value: raw.io.value))
        case UInt32(PMK_KVM_EXIT_MMIO.rawValue):
            let length = Int(min(raw.mmio.len, 8))
            var value: UInt64 = 0
            withUnsafeBytes(of: raw.mmio.data) { bytes in
                for i in 0..<length { value |= UInt64(bytes[i]) << (8 * UInt64(i)) }
            }
            self = .mmio(
                MMIOAccess(gpa: raw.mmio.gpa, isWrite: raw.mmio.is_write, length: length, value: value))
        case UInt32(PMK_KVM_EXIT_HLT.rawValue):
            self = .halt
        case UInt32(PMK_KVM_EXIT_SHUTDOWN.rawValue):
            self = .shutdown
        case UInt32(PMK_KVM_EXIT_INTERNAL_ERROR.rawValue):
            let data = withUnsafeBytes(of: raw.internal.data) { Array($0.bindMemory(to: UInt64.self)) }
            let bytes = withUnsafeBytes(of: raw.internal.insn_bytes) { Array($0) }
            self = .internalError(
                suberror: raw.internal.suberror, data: Array(data.prefix(Int(raw.internal.ndata))),
                instruction: Array(bytes.prefix(Int(raw.internal.insn_size))))
        case UInt32(PMK_KVM_EXIT_FAIL_ENTRY.rawValue):
            self = .failEntry(hardwareReason: raw.hardware_entry_failure_reason)
        case UInt32(PMK_KVM_EXIT_INTR.rawValue):
            self = .interrupted
        default:
            self = .other(raw.reason)
        }
    }
}
