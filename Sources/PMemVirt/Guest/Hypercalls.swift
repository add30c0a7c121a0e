internal import CKVMShim
import Foundation
import PMemKit

/// A hypercall as the guest made it (`struct pmk_hypercall`).
public struct Hypercall: Sendable, Equatable {
    /// `PMK_HC_*`.
    public var number: UInt32
    /// The six argument words.
    public var arguments: [UInt64]
}

/// A handler's answer to a hypercall.
public struct HypercallReply: Sendable, Equatable {
    /// Written to the block's `result`: 0, or a negative errno.
    public var result: Int32
    /// Written to the block's `ret` words.
    public var values: [UInt64]
    /// Whether the vCPU's program has ended.
    public var stopsVCPU: Bool

    /// A reply; the default is success with nothing returned.
    public init(result: Int32 = 0, values: [UInt64] = [], stopsVCPU: Bool = false) {
        self.result = result
        self.values = values
        self.stopsVCPU = stopsVCPU
    }
}

/// Handles one hypercall number on the calling vCPU's thread.
public typealias HypercallHandler = @Sendable (Hypercall, VirtualCPU) throws -> HypercallReply

/// The hypercall device: a 32-bit `out` to `PMK_HC_PORT` carries the
/// guest-physical address of a `pmk_hypercall` block; the handler
/// registered for its number answers, and the reply is written back into
/// the block before the guest resumes. Unknown numbers answer `-ENOSYS`.
public final class HypercallDevice: PortIOHandler, @unchecked Sendable {
    /// The port the guest writes block addresses to.
    public static let port = UInt16(PMK_HC_PORT)

    private let memory: GuestMemory
    private var handlers: [UInt32: HypercallHandler] = [:]
    private let lock = NSLock()

    init(memory: GuestMemory) {
        self.memory = memory
        registerBuiltins()
    }

    /// Makes `handler` answer hypercall `number`, replacing an earlier one.
    public func register(_ number: UInt32, _ handler: @escaping HypercallHandler) {
        lock.withLock { handlers[number] = handler }
    }

    /// Reads the block, calls its handler and writes the reply back.
    public func handlePortIO(_ access: PortIOAccess, vcpu: VirtualCPU) throws -> ExitAction {
        guard access.isWrite, access.size == 4, access.count == 1 else {
            throw VMError.badHypercall(
                vcpu: vcpu.index, detail: "port 0x\(String(access.port, radix: 16)) takes one 32-bit out")
        }
        let gpa = access.value & 0xffff_ffff
        let size = UInt64(MemoryLayout<pmk_hypercall>.size)
        guard gpa % 8 == 0, let block = memory.host(gpa: gpa, length: size),
            memory.slot(containing: gpa)?.access == .readWrite
        else {
            throw VMError.badHypercall(
                vcpu: vcpu.index,
                detail: "block at 0x\(String(gpa, radix: 16)) is not 8-byte aligned guest RAM")
        }
        var call = block.load(as: pmk_hypercall.self)
        let arguments = withUnsafeBytes(of: call.args) { Array($0.bindMemory(to: UInt64.self)) }
        let request = Hypercall(number: call.nr, arguments: arguments)
        let handler = lock.withLock { handlers[call.nr] }
        let reply =
            try handler?(request, vcpu) ?? HypercallReply(result: -ENOSYS)
        call.result = reply.result
        withUnsafeMutableBytes(of: &call.ret) { raw in
            for (i, value) in reply.values.prefix(2).enumerated() {
                raw.storeBytes(of: value, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        block.storeBytes(of: call, as: pmk_hypercall.self)
        return reply.stopsVCPU ? .stop : .resume
    }

    /// Exit, report, phase and log: what every guest program may use.
    private func registerBuiltins() {
        register(UInt32(PMK_HC_EXIT.rawValue)) { call, vcpu in
            vcpu.exitStatus = call.arguments[0]
            return HypercallReply(stopsVCPU: true)
        }
        register(UInt32(PMK_HC_REPORT.rawValue)) { call, vcpu in
            vcpu.reports[call.arguments[0]] = call.arguments[1]
            return HypercallReply()
        }
        register(UInt32(PMK_HC_PHASE.rawValue)) { call, vcpu in
            let now = DispatchTime.now().uptimeNanoseconds
            switch call.arguments[0] {
            case UInt64(PMK_PHASE_BEGIN.rawValue): vcpu.phaseBegin = now
            case UInt64(PMK_PHASE_END.rawValue): vcpu.phaseEnd = now
            default: return HypercallReply(result: -EINVAL)
            }
            return HypercallReply()
        }
        let memory = self.memory
        register(UInt32(PMK_HC_LOG.rawValue)) { call, vcpu in
            let length = Int(min(call.arguments[1], 4096))
            guard let bytes = memory.read(gpa: call.arguments[0], length: length) else {
                return HypercallReply(result: -EFAULT)
            }
            vcpu.log.append(String(decoding: bytes, as: UTF8.self))
            return HypercallReply()
        }
    }
}
