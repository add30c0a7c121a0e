internal import CFaultShim
import Foundation
import PMemKit

/// A range of a process's memory under an access policy: its access, what a
/// fault there does, and how many faults it has taken. Made by
/// `PageProtector.protect`; the protection ends with `unprotect()` or when
/// the range is released (the memory is read-write again).
public final class ProtectedRange: @unchecked Sendable {
    /// The first byte (page-aligned).
    public let base: UnsafeMutableRawPointer
    /// Bytes (whole pages).
    public let length: Int
    /// A name for reports.
    public let label: String
    /// How the range divides into objects, for reports; `nil` when it does not.
    public let objects: ObjectLayout?
    /// How the access is enforced.
    public let mechanism: ProtectionMechanism
    /// One line: why this mechanism (the process default, or why it fell back).
    public let mechanismReason: String

    let id: Int32
    /// Keeps what the memory belongs to (a `PMemMapping`) mapped while protected.
    private let owner: AnyObject?
    private let lock = NSLock()
    private var removed = false
    private var faultsAtRemoval: UInt64 = 0
    /// Tests only: runs in `unprotect` once the range's id is free again,
    /// where another thread's `protect` may take it.
    nonisolated(unsafe) static var afterRemovalForTesting: (() -> Void)?

    init(
        id: Int32, base: UnsafeMutableRawPointer, length: Int, label: String, objects: ObjectLayout?,
        mechanism: ProtectionMechanism, mechanismReason: String, owner: AnyObject?
    ) {
        self.id = id
        self.base = base
        self.length = length
        self.label = label
        self.objects = objects
        self.mechanism = mechanism
        self.mechanismReason = mechanismReason
        self.owner = owner
    }

    deinit { unprotect() }

    /// The access last set on the whole range; with pkeys, whose access is
    /// each thread's own, the default: what the range was protected with,
    /// which a thread that never set its own gets on its first touch.
    /// `readWrite` once unprotected.
    public var access: PageAccess {
        lock.withLock {
            removed ? .readWrite : PageAccess(shim: pmk_fault_range_get_access(id)) ?? .readWrite
        }
    }

    /// Faults taken so far, whatever their action did.
    public var faults: UInt64 {
        lock.withLock { removed ? faultsAtRemoval : pmk_fault_range_get_faults(id) }
    }

    /// Whether `address` lies in the range.
    public func contains(_ address: UnsafeRawPointer) -> Bool {
        let a = UInt(bitPattern: address)
        let start = UInt(bitPattern: base)
        return a >= start && a - start < UInt(length)
    }

    /// Enforces `access` from now on: mprotect (one system call), userfaultfd
    /// write-protect (one ioctl; `none` is an mprotect), or pkeys (WRPKRU:
    /// no system call, and for the calling thread only; threads it starts
    /// afterwards inherit its rights).
    public func setAccess(_ access: PageAccess) throws {
        try lock.withLock {
            guard !removed else { throw unprotectedError("set access") }
            let rc = pmk_fault_range_set_access(id, access.shim)
            guard rc == 0 else {
                throw PMemError.system("set access", errno: -rc, detail: "\(label) to \(access.rawValue)")
            }
        }
    }

    /// Enforces `access` on `length` bytes at `offset` (whole pages) only:
    /// a handler lifting just the page that faulted, a transaction opening
    /// the pages it writes. `access` keeps the whole range's last setting.
    /// Not with pkeys, whose key covers the whole range.
    public func setAccess(_ access: PageAccess, offset: Int, length: Int) throws {
        try lock.withLock {
            guard !removed else { throw unprotectedError("set access") }
            let rc = pmk_fault_range_set_access_part(id, offset, length, access.shim)
            guard rc == 0 else {
                let why = rc == -EOPNOTSUPP ? "\(mechanism.rawValue) protects whole ranges only" : nil
                throw PMemError.system(
                    "set access", errno: -rc,
                    detail: why ?? "\(label) bytes \(offset)..<\(offset + length) to \(access.rawValue)")
            }
        }
    }

    /// Makes later faults do `action` (a handler replaces the previous one).
    public func setAction(_ action: FaultAction) throws {
        try lock.withLock {
            guard !removed else { throw unprotectedError("set fault action") }
            if action.handler != nil { try FaultService.shared.start() }
            FaultService.shared.register(self, handler: action.handler)
            let rc = pmk_fault_range_set_action(id, action.shim)
            guard rc == 0 else { throw PMemError.system("set fault action", errno: -rc, detail: label) }
        }
    }

    /// Ends the protection: the memory is read-write again and faults no more.
    public func unprotect() {
        lock.withLock {
            guard !removed else { return }
            faultsAtRemoval = pmk_fault_range_get_faults(id)
            // The handler is forgotten while the id is still this range's: once
            // the range is removed, another range may take the id and register
            // its own handler, which an unregister from here would drop (its
            // faults would then be retried for ever, with no handler to decide).
            FaultService.shared.unregister(id: id, range: self)
            pmk_fault_range_remove(id)
            Self.afterRemovalForTesting?()
            removed = true
        }
    }

    /// The fault `event` describes, in this range's terms.
    func fault(from event: pmk_fault_event) -> PageFault {
        let address = UInt(event.address)
        let offset = Int(address &- UInt(bitPattern: base))
        return PageFault(
            address: address, offset: offset, isWrite: event.write != 0,
            instructionPointer: event.ip == 0 ? nil : UInt(event.ip),
            threadID: event.tid == 0 ? nil : event.tid,
            mechanism: ProtectionMechanism(shim: event.mechanism) ?? mechanism, label: label,
            object: objects?.object(atRangeOffset: offset))
    }

    private func unprotectedError(_ operation: String) -> PMemError {
        PMemError(.invalidArgument, operation: operation, detail: "\(label) is no longer protected")
    }
}
