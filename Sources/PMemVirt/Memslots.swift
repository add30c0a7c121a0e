import CKVMShim
import Foundation
import PMemKit

/// How a guest may access a guest-physical range, as the second-level
/// mapping (the memslot) enforces it.
public enum GuestAccess: String, Sendable, Codable {
    /// Reads and writes go straight to host memory; no exits.
    case readWrite = "read-write"
    /// Reads go to host memory; every write exits to the VMM as MMIO (`KVM_MEM_READONLY`).
    case readOnly = "read-only"

    var memslotFlags: UInt32 {
        switch self {
        case .readWrite: return 0
        case .readOnly: return UInt32(PMK_KVM_MEM_READONLY)
        }
    }
}

/// One memslot: guest-physical `[gpa, gpa + size)` backed by host memory at `host`.
public struct Memslot: Sendable, Equatable {
    /// KVM's slot number.
    public var slot: UInt32
    /// First guest-physical byte.
    public var gpa: UInt64
    /// Bytes (whole pages).
    public var size: UInt64
    /// Host virtual address of the first byte.
    public var host: UInt
    /// What the guest may do there.
    public var access: GuestAccess
    /// What the range is (`ram`, `vpmem`, `vfha`), for messages.
    public var label: String

    /// Whether `gpa` falls inside the slot.
    public func contains(_ address: UInt64) -> Bool {
        address >= gpa && address - gpa < size
    }
}

/// The memslot bookkeeping of a VM, without KVM: slot numbers, overlap
/// checks and guest-physical → host translation.
///
/// Kept apart from the ioctls so that later work (splitting a slot to change
/// the access of part of it, removing a range) is a change of this table
/// followed by the same apply step, and can be tested without a VM.
struct MemslotTable: Sendable {
    private(set) var slots: [Memslot] = []

    /// Adds a slot with the lowest free number; refuses overlaps and partial pages.
    mutating func insert(
        label: String, gpa: UInt64, size: UInt64, host: UInt, access: GuestAccess
    ) throws -> Memslot {
        let page = GuestLayout.pageSize
        guard size > 0, gpa % page == 0, size % page == 0, host % UInt(page) == 0 else {
            throw PMemError(
                .invalidArgument, operation: "map guest memory",
                detail: "\(label): address, size and host memory must be whole 4 KiB pages")
        }
        if let clash = slots.first(where: { gpa < $0.gpa + $0.size && $0.gpa < gpa + size }) {
            throw PMemError(
                .invalidArgument, operation: "map guest memory",
                detail: "\(label) at 0x\(String(gpa, radix: 16)) overlaps \(clash.label)")
        }
        let used = Set(slots.map(\.slot))
        let number = (0...UInt32(slots.count)).first { !used.contains($0) }!
        let slot = Memslot(slot: number, gpa: gpa, size: size, host: host, access: access, label: label)
        slots.append(slot)
        slots.sort { $0.gpa < $1.gpa }
        return slot
    }

    /// Removes slot number `slot`; returns it.
    mutating func remove(slot number: UInt32) -> Memslot? {
        guard let i = slots.firstIndex(where: { $0.slot == number }) else { return nil }
        return slots.remove(at: i)
    }

    /// The slot holding `gpa`, if any.
    func slot(containing gpa: UInt64) -> Memslot? {
        slots.first { $0.contains(gpa) }
    }

    /// The host address of `[gpa, gpa + length)` when one slot holds all of it.
    func host(gpa: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        guard let slot = slot(containing: gpa), length <= slot.size - (gpa - slot.gpa) else { return nil }
        return UnsafeMutableRawPointer(bitPattern: slot.host + UInt(gpa - slot.gpa))
    }
}

/// A VM's guest-physical memory: the memslot table applied to KVM.
public final class GuestMemory: @unchecked Sendable {
    private let vmFD: Int32
    private var table = MemslotTable()
    private let lock = NSLock()

    init(vmFD: Int32) {
        self.vmFD = vmFD
    }

    /// Every memslot, by address.
    public var slots: [Memslot] { lock.withLock { table.slots } }

    /// Maps `size` bytes of host memory at `host` into the guest at `gpa` with `access`.
    @discardableResult
    func map(
        _ label: String, gpa: UInt64, size: UInt64, host: UnsafeMutableRawPointer, access: GuestAccess
    ) throws -> Memslot {
        try lock.withLock {
            var next = table
            let slot = try next.insert(
                label: label, gpa: gpa, size: size, host: UInt(bitPattern: host), access: access)
            let rc = pmk_kvm_set_memslot(vmFD, slot.slot, access.memslotFlags, gpa, size, host)
            guard rc == 0 else {
                throw PMemError.system("KVM_SET_USER_MEMORY_REGION", errno: -rc, detail: label)
            }
            table = next
            return slot
        }
    }

    /// The slot holding `gpa`, if any.
    public func slot(containing gpa: UInt64) -> Memslot? {
        lock.withLock { table.slot(containing: gpa) }
    }

    /// Host memory behind `[gpa, gpa + length)`, when one memslot holds all of it.
    public func host(gpa: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        lock.withLock { table.host(gpa: gpa, length: length) }
    }

    /// Copies `length` guest bytes at `gpa`, or `nil` when they are not all in one memslot.
    public func read(gpa: UInt64, length: Int) -> [UInt8]? {
        guard let p = host(gpa: gpa, length: UInt64(length)) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: length))
    }
}
