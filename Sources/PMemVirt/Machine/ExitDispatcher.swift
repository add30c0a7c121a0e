import Foundation
import PMemKit

/// What a device wants once it has handled an exit.
public enum ExitAction: Sendable, Equatable {
    /// Run the guest on.
    case resume
    /// Run the guest on; the `in` or MMIO read that exited reads this value.
    case resumeWithRead(UInt64)
    /// The vCPU's program has ended; do not enter the guest again.
    case stop
}

/// A device on a range of I/O ports.
public protocol PortIOHandler: AnyObject, Sendable {
    /// Handles one access from `vcpu`'s thread. A thrown error stops the VM.
    func handlePortIO(_ access: PortIOAccess, vcpu: VirtualCPU) throws -> ExitAction
}

/// A device on a range of guest-physical addresses that exits: unmapped,
/// or mapped read-only (whose writes exit).
public protocol MMIOHandler: AnyObject, Sendable {
    /// Handles one access from `vcpu`'s thread. A thrown error stops the VM.
    func handleMMIO(_ access: MMIOAccess, vcpu: VirtualCPU) throws -> ExitAction
}

/// Routes port I/O and MMIO exits to the device registered for the port or
/// address. Devices may be registered while the guest runs (later page
/// access hypercalls add fault handlers that way).
public final class ExitDispatcher: @unchecked Sendable {
    private var ports: [(range: ClosedRange<UInt16>, handler: any PortIOHandler)] = []
    private var addresses: [(range: Range<UInt64>, handler: any MMIOHandler)] = []
    private let lock = NSLock()

    init() {}

    /// Routes accesses to `range` to `handler`; overlapping an earlier range is refused.
    public func register(ports range: ClosedRange<UInt16>, _ handler: any PortIOHandler) throws {
        try lock.withLock {
            if ports.contains(where: { $0.range.overlaps(range) }) {
                throw PMemError(
                    .busy, operation: "register device",
                    detail: "ports 0x\(String(range.lowerBound, radix: 16))... already have a device")
            }
            ports.append((range, handler))
        }
    }

    /// Routes exits at guest-physical `range` to `handler`; overlapping an earlier range is refused.
    public func register(addresses range: Range<UInt64>, _ handler: any MMIOHandler) throws {
        try lock.withLock {
            if addresses.contains(where: { $0.range.overlaps(range) }) {
                throw PMemError(
                    .busy, operation: "register device",
                    detail: "guest-physical 0x\(String(range.lowerBound, radix: 16)) already has a device")
            }
            addresses.append((range, handler))
        }
    }

    /// The device on `port`, if any.
    func handler(port: UInt16) -> (any PortIOHandler)? {
        lock.withLock { ports.first { $0.range.contains(port) }?.handler }
    }

    /// The device at guest-physical `gpa`, if any.
    func handler(gpa: UInt64) -> (any MMIOHandler)? {
        lock.withLock { addresses.first { $0.range.contains(gpa) }?.handler }
    }
}
