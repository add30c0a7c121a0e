internal import CFaultShim
import Foundation
import PMemKit
import Synchronization

/// Page access policy for a process: protect ranges of ordinary memory or
/// of a `PMemMapping` with `none`, `read` or `read-write`, and say what a
/// fault there does.
///
/// The mechanism is chosen once per process (`choice`): pkeys where the CPU
/// has pku, else userfaultfd write-protect, else mprotect + SIGSEGV;
/// `PMEMKIT_PROTECT_MECHANISM` overrides it. A range whose memory the
/// chosen mechanism cannot cover (userfaultfd on a file of a disk file
/// system, pkeys with every key taken) falls back to the next one and
/// says so in its `mechanismReason`.
public final class PageProtector: Sendable {
    /// The process's mechanism, and why.
    public let choice: MechanismChoice

    private static let instance = Mutex<PageProtector?>(nil)

    private init(choice: MechanismChoice) {
        self.choice = choice
    }

    /// The process's protector, made on first use from the environment.
    /// Throws when `PMEMKIT_PROTECT_MECHANISM` is malformed or names a
    /// mechanism this machine lacks.
    public static func shared() throws -> PageProtector {
        try instance.withLock { current in
            if let current { return current }
            let made = PageProtector(choice: try MechanismChoice.current())
            current = made
            return made
        }
    }

    /// Protects `[base, base + length)` (whole pages) with `access`.
    ///
    /// - Parameters:
    ///   - onFault: what a fault does; every fault is counted.
    ///   - label: the range's name in reports.
    ///   - objects: how the range divides into objects, so reports name the object hit.
    ///   - mechanism: a mechanism for this range only; it must work for this memory or this throws.
    ///   - owner: an object the memory belongs to, kept alive while protected.
    public func protect(
        _ base: UnsafeMutableRawPointer, length: Int, access: PageAccess, onFault: FaultAction,
        label: String = "", objects: ObjectLayout? = nil, mechanism: ProtectionMechanism? = nil,
        owner: AnyObject? = nil
    ) throws -> ProtectedRange {
        let page = Int(getpagesize())
        guard length > 0, Int(bitPattern: base) % page == 0, length % page == 0 else {
            throw PMemError(
                .invalidArgument, operation: "protect",
                detail: "\(label.isEmpty ? "range" : label): address and length must be whole pages")
        }
        let candidates = try candidates(requested: mechanism)
        if onFault.handler != nil || candidates.contains(.userfaultfd) {
            try FaultService.shared.start()
        }
        var passedOver: [String] = []
        for candidate in candidates {
            var desc = pmk_fault_range_desc()
            desc.base = base
            desc.length = length
            desc.mechanism = candidate.shim
            // Protected only once the handler is registered, so no fault finds it missing;
            // with pkeys the access given here is the default of every thread.
            desc.access = candidate == .pkeys ? access.shim.rawValue : PMK_ACCESS_READ_WRITE.rawValue
            desc.action = onFault.shim.rawValue
            desc.object_size = objects?.size ?? 0
            desc.first_object = objects?.firstOffset ?? 0
            copyLabel(label, into: &desc)
            let id = pmk_fault_range_add(&desc)
            if id >= 0 {
                let reason =
                    mechanism != nil
                    ? "requested for this range"
                    : (passedOver + [
                        candidate == choice.mechanism
                            ? "the process's mechanism" : "\(candidate.rawValue) instead"
                    ])
                    .joined(separator: "; ")
                let range = ProtectedRange(
                    id: id, base: base, length: length, label: label, objects: objects, mechanism: candidate,
                    mechanismReason: reason, owner: owner)
                FaultService.shared.register(range, handler: onFault.handler)
                if candidate != .pkeys { try range.setAccess(access) }
                return range
            }
            guard mechanism == nil, let why = Self.fallbackReason(candidate, rc: id) else {
                throw PMemError.system(
                    "protect", errno: -id,
                    detail: "\(label.isEmpty ? "range" : label) with \(candidate.rawValue)")
            }
            passedOver.append(why)
        }
        throw PMemError(
            .unsupported, operation: "protect", detail: passedOver.joined(separator: "; "))
    }

    /// Protects bytes `offset..<offset + length` of `mapping` (all of it
    /// from `offset` by default); the range keeps the mapping alive.
    public func protect(
        _ mapping: PMemMapping, offset: Int = 0, length: Int? = nil, access: PageAccess, onFault: FaultAction,
        label: String? = nil, objects: ObjectLayout? = nil, mechanism: ProtectionMechanism? = nil
    ) throws -> ProtectedRange {
        let bytes = length ?? mapping.size - offset
        guard offset >= 0, bytes > 0, offset + bytes <= mapping.size else {
            throw PMemError(
                .invalidArgument, operation: "protect",
                detail: "\(mapping.path): bytes \(offset)..<\(offset + bytes) are outside its \(mapping.size)"
            )
        }
        return try protect(
            mapping.pointer(at: offset), length: bytes, access: access, onFault: onFault,
            label: label ?? mapping.path, objects: objects, mechanism: mechanism, owner: mapping)
    }

    /// Puts PMemProtect's SIGSEGV handler back if another library replaced
    /// it (that library's handler then gets the faults outside every range).
    /// Returns whether it had to.
    @discardableResult
    public func reinstallSignalHandler() throws -> Bool {
        let rc = pmk_fault_signal_install()
        guard rc >= 0 else { throw PMemError.system("sigaction", errno: -rc, detail: "SIGSEGV") }
        return rc == 1
    }

    /// Where denied faults are reported, one line each (default: stderr, 2).
    /// The line is written from the fault path, so it must be a descriptor
    /// that stays open (a pipe, a log file).
    public func reportDenials(to descriptor: Int32) {
        pmk_fault_set_report_fd(descriptor)
    }

    /// The mechanisms to try, in order: the requested one only, or the
    /// process's choice followed by the cheaper-to-satisfy ones after it.
    private func candidates(requested: ProtectionMechanism?) throws -> [ProtectionMechanism] {
        let support = MechanismSupport.current
        if let requested {
            _ = try support.requireAvailable(requested, operation: "protect")
            return [requested]
        }
        let order = ProtectionMechanism.allCases
        let start = order.firstIndex(of: choice.mechanism) ?? 0
        return order[start...].filter { support.status(of: $0).available }
    }

    /// Why `mechanism` could not take this memory, when another may.
    private static func fallbackReason(_ mechanism: ProtectionMechanism, rc: Int32) -> String? {
        switch (mechanism, -rc) {
        case (.userfaultfd, EINVAL):
            return "userfaultfd write-protect does not cover this memory (a file on a disk file system)"
        case (.pkeys, ENOSPC):
            return "every protection key is taken"
        default:
            return nil
        }
    }

    private func copyLabel(_ label: String, into desc: inout pmk_fault_range_desc) {
        withUnsafeMutableBytes(of: &desc.label) { raw in
            let bytes = Array(label.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }
}
