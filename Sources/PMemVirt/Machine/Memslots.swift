internal import CKVMShim
import Foundation
import PMemKit

/// How a guest may access a guest-physical range, as the second-level
/// mapping (the memslot) enforces it.
public enum GuestAccess: String, Sendable, Codable, CaseIterable {
    /// Reads and writes go straight to host memory; no exits.
    case readWrite = "read-write"
    /// Reads go to host memory; every write exits to the VMM as MMIO (`KVM_MEM_READONLY`).
    case readOnly = "read-only"
    /// No memslot: reads and writes exit. The host memory stays (the VMM
    /// still reads and writes it), so access can come back.
    case none

    var memslotFlags: UInt32 {
        switch self {
        case .readWrite, .none: return 0
        case .readOnly: return UInt32(PMK_KVM_MEM_READONLY)
        }
    }

    /// Whether a read, or a write, needs no exit.
    public func allows(write: Bool) -> Bool {
        switch self {
        case .readWrite: return true
        case .readOnly: return !write
        case .none: return false
        }
    }

    /// The access a guest names in `PMK_HC_ACCESS_SET` (`pmk_guest_access`).
    public init?(guest value: UInt64) {
        switch value {
        case UInt64(PMK_GUEST_ACCESS_NONE.rawValue): self = .none
        case UInt64(PMK_GUEST_ACCESS_READ.rawValue): self = .readOnly
        case UInt64(PMK_GUEST_ACCESS_READ_WRITE.rawValue): self = .readWrite
        default: return nil
        }
    }
}

/// One memslot, or one removed piece of guest memory: guest-physical
/// `[gpa, gpa + size)` backed by host memory at `host`.
public struct Memslot: Sendable, Equatable {
    /// KVM's slot number; `nil` for a piece with access `none`, which has no memslot.
    public var slot: UInt32?
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

    /// One past the last byte.
    public var end: UInt64 { gpa + size }
}

/// The changes to make in KVM for one access change: slots to delete
/// first, then slots to install.
struct MemslotChange: Equatable {
    /// Installed slots that go (deleted by number).
    var removed: [Memslot] = []
    /// Slots to install (each with its new number).
    var added: [Memslot] = []
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
        if let clash = slots.first(where: { gpa < $0.end && $0.gpa < gpa + size }) {
            throw PMemError(
                .invalidArgument, operation: "map guest memory",
                detail: "\(label) at 0x\(String(gpa, radix: 16)) overlaps \(clash.label)")
        }
        var numbers = usedNumbers
        let slot = Memslot(
            slot: access == .none ? nil : Self.lowestFree(&numbers), gpa: gpa, size: size, host: host,
            access: access, label: label)
        slots.append(slot)
        slots.sort { $0.gpa < $1.gpa }
        return slot
    }

    /// Gives `[gpa, gpa + length)` the access `access`: the pieces it touches
    /// are split at its edges, the pieces inside get `access`, and
    /// neighbours of one label with equal access and contiguous host memory
    /// merge (so lifting a protection gives the one slot back). The range
    /// must lie in guest memory of one label, without holes. Returns what
    /// to change in KVM; unchanged pieces keep their slot numbers.
    mutating func setAccess(gpa: UInt64, length: UInt64, access: GuestAccess) throws -> MemslotChange {
        let page = GuestLayout.pageSize
        let end = gpa &+ length
        guard length > 0, gpa % page == 0, length % page == 0, end > gpa else {
            throw PMemError(
                .invalidArgument, operation: "set guest access",
                detail: "0x\(String(gpa, radix: 16)) + \(length) bytes is not a run of whole 4 KiB pages")
        }
        let touched = slots.filter { $0.gpa < end && gpa < $0.end }
        guard let first = touched.first, let last = touched.last, first.gpa <= gpa, last.end >= end,
            zip(touched, touched.dropFirst()).allSatisfy({ $0.end == $1.gpa }),
            touched.allSatisfy({ $0.label == first.label })
        else {
            throw PMemError(
                .invalidArgument, operation: "set guest access",
                detail: "0x\(String(gpa, radix: 16)) + \(length) bytes is not all guest memory of one kind")
        }
        var region = touched
        if let left = slots.first(where: { $0.end == first.gpa && $0.label == first.label }) {
            region.insert(left, at: 0)
        }
        if let right = slots.first(where: { $0.gpa == last.end && $0.label == first.label }) {
            region.append(right)
        }

        var pieces: [Memslot] = []
        for piece in region {
            let cuts = [
                piece.gpa, min(max(gpa, piece.gpa), piece.end), min(max(end, piece.gpa), piece.end),
                piece.end,
            ]
            for (from, to) in zip(cuts, cuts.dropFirst()) where to > from {
                let inside = from >= gpa && to <= end
                pieces.append(
                    Memslot(
                        slot: nil, gpa: from, size: to - from, host: piece.host + UInt(from - piece.gpa),
                        access: inside ? access : piece.access, label: piece.label))
            }
        }
        var merged: [Memslot] = []
        for piece in pieces {
            if let previous = merged.last, previous.access == piece.access, previous.end == piece.gpa,
                previous.host + UInt(previous.size) == piece.host
            {
                merged[merged.count - 1].size += piece.size
            } else {
                merged.append(piece)
            }
        }

        var change = MemslotChange()
        let unchanged = { (a: Memslot, b: Memslot) in
            a.gpa == b.gpa && a.size == b.size && a.access == b.access && a.host == b.host
        }
        change.removed = region.filter { old in old.slot != nil && !merged.contains { unchanged(old, $0) } }
        var numbers = usedNumbers.subtracting(change.removed.compactMap(\.slot))
        for i in merged.indices {
            if let old = region.first(where: { unchanged($0, merged[i]) }) {
                merged[i].slot = old.slot
            } else if merged[i].access != .none {
                merged[i].slot = Self.lowestFree(&numbers)
                change.added.append(merged[i])
            }
        }
        slots.removeAll { piece in region.contains { $0.gpa == piece.gpa } }
        slots.append(contentsOf: merged)
        slots.sort { $0.gpa < $1.gpa }
        return change
    }

    /// Slots installed in KVM.
    var installedCount: Int { slots.filter { $0.slot != nil }.count }

    private var usedNumbers: Set<UInt32> { Set(slots.compactMap(\.slot)) }

    /// The lowest number not in `numbers`, which then holds it.
    private static func lowestFree(_ numbers: inout Set<UInt32>) -> UInt32 {
        let number = (0...UInt32(numbers.count)).first { !numbers.contains($0) }!
        numbers.insert(number)
        return number
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
        guard let slot = slot(containing: gpa), length <= slot.end - gpa else { return nil }
        return UnsafeMutableRawPointer(bitPattern: slot.host + UInt(gpa - slot.gpa))
    }
}

/// A VM's guest-physical memory: the memslot table applied to KVM.
public final class GuestMemory: @unchecked Sendable {
    private let vmFD: Int32
    private var table = MemslotTable()
    private let lock = NSLock()
    /// KVM's limit on memslots (`KVM_CAP_NR_MEMSLOTS`).
    private let slotLimit: Int

    init(vmFD: Int32) {
        self.vmFD = vmFD
        slotLimit = Int(max(8, pmk_kvm_check_extension(vmFD, PMK_KVM_CAP_NR_MEMSLOTS)))
    }

    /// Every memslot and removed piece, by address.
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
            if let number = slot.slot {
                let rc = pmk_kvm_set_memslot(vmFD, number, access.memslotFlags, gpa, size, host)
                guard rc == 0 else {
                    throw PMemError.system("KVM_SET_USER_MEMORY_REGION", errno: -rc, detail: label)
                }
            }
            table = next
            return slot
        }
    }

    /// Gives guest memory `[gpa, gpa + length)` the access `access` in the
    /// second-level mapping: memslots are split, made read-only or removed
    /// (deleted first, then installed), and merged again when access
    /// comes back. vCPUs may run meanwhile: an access in the gap exits and
    /// waits for this lock (`withCurrentTable`). Returns the KVM calls made.
    @discardableResult
    func setAccess(gpa: UInt64, length: UInt64, access: GuestAccess) throws -> Int {
        try lock.withLock {
            var next = table
            let change = try next.setAccess(gpa: gpa, length: length, access: access)
            guard next.installedCount <= slotLimit else {
                throw PMemError(
                    .busy, operation: "set guest access", errno: ENOSPC,
                    detail: "it would take \(next.installedCount) memslots; KVM allows \(slotLimit)")
            }
            var done: [(Memslot, installed: Bool)] = []
            do {
                for slot in change.removed {
                    try install(slot, size: 0)
                    done.append((slot, false))
                }
                for slot in change.added {
                    try install(slot, size: slot.size)
                    done.append((slot, true))
                }
            } catch {
                // Put back what was there, in reverse, so the guest keeps its memory.
                for (slot, installed) in done.reversed() {
                    try? install(slot, size: installed ? 0 : slot.size)
                }
                throw error
            }
            table = next
            return change.removed.count + change.added.count
        }
    }

    private func install(_ slot: Memslot, size: UInt64) throws {
        guard let number = slot.slot else { return }
        let rc = pmk_kvm_set_memslot(
            vmFD, number, slot.access.memslotFlags, slot.gpa, size,
            UnsafeMutableRawPointer(bitPattern: slot.host))
        guard rc == 0 else {
            throw PMemError.system(
                "KVM_SET_USER_MEMORY_REGION", errno: -rc,
                detail: "\(slot.label) slot \(number) at 0x\(String(slot.gpa, radix: 16))")
        }
    }

    /// Runs `body` on the table as it is, holding the lock: an access check
    /// and the VMM's own read or write of guest memory see one state.
    func withCurrentTable<T>(_ body: (MemslotTable) throws -> T) rethrows -> T {
        try lock.withLock { try body(table) }
    }

    /// The access at `gpa` now; `nil` outside guest memory.
    public func access(at gpa: UInt64) -> GuestAccess? {
        lock.withLock { table.slot(containing: gpa)?.access }
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
