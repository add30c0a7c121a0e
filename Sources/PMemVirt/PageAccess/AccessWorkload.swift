internal import CKVMShim

/// The `access` guest program's parameters: each vCPU protects its own
/// pages by hypercall and touches them, or switches their access, or writes
/// to a read-only page in a loop; its faults go to its own handler or the
/// host's, which answer `answer`.
public struct AccessWorkload: Sendable, Equatable {
    /// What the guest does.
    public enum Mode: UInt64, Sendable {
        /// Protect each vCPU's pages, touch each once, check the data (tests).
        case touch = 1
        /// Switch the pages between read-only and read-write `iterations` times (benchmark).
        case switchAccess = 2
        /// Write to one read-only page `iterations` times (benchmark).
        case fault = 3
    }

    /// What the guest does.
    public var mode: Mode
    /// Pages each vCPU works on.
    public var pagesPerVCPU: UInt64 = 1
    /// `touch`: the access the pages get (`none` or `readOnly`).
    public var access: GuestAccess = .readOnly
    /// `touch`: write each page (else read it).
    public var writes = true
    /// `switchAccess`, `fault`: loop iterations.
    public var iterations: UInt64 = 0
    /// The guest's own handler takes the faults (else the host's).
    public var guestHandler = false
    /// What the guest's handler answers, and what the guest expects the host's to
    /// answer: `retry` means "make the page read-write, then retry".
    public var answer: GuestFaultDecision = .retry
    /// `switchAccess`: set read-write every time, so no memslot changes (the hypercall alone).
    public var sameAccess = false

    /// A workload of `mode` with the defaults.
    public init(mode: Mode) {
        self.mode = mode
    }

    /// The report keys the program uses (`PMK_REPORT_*`): accesses made to protected pages,
    /// calls of its own fault handler, failed checks.
    public static let touchesKey = UInt64(PMK_REPORT_TOUCHES.rawValue)
    /// See `touchesKey`.
    public static let handlerCallsKey = UInt64(PMK_REPORT_HANDLER_CALLS.rawValue)
    /// See `touchesKey`.
    public static let errorsKey = UInt64(PMK_REPORT_ERRORS.rawValue)

    /// The program's boot arguments (`tools/guests/access.c`).
    public var bootArguments: [UInt64] {
        let second: UInt64 = mode == .touch ? (access == .none ? 0 : 1) : iterations
        let handler: UInt64 = mode == .switchAccess ? (sameAccess ? 1 : 0) : (guestHandler ? 1 : 0)
        let answerValue: UInt64
        switch answer {
        case .retry: answerValue = UInt64(PMK_GUEST_FAULT_RETRY.rawValue)
        case .allow: answerValue = UInt64(PMK_GUEST_FAULT_ALLOW.rawValue)
        case .skip: answerValue = UInt64(PMK_GUEST_FAULT_SKIP.rawValue)
        case .end: answerValue = UInt64(PMK_GUEST_FAULT_END.rawValue)
        }
        return [mode.rawValue, pagesPerVCPU, second, handler, writes ? 0 : 1, answerValue]
    }

    /// The first guest-physical byte of vCPU `vcpu`'s pages in a guest with `ramSize` bytes of RAM.
    public func pages(vcpu: Int, ramSize: UInt64) -> UInt64 {
        ramSize / 2 + UInt64(vcpu) * pagesPerVCPU * GuestLayout.pageSize
    }

    /// What page `page` of vCPU `vcpu` holds before it is touched (its first word).
    public static func seed(vcpu: Int, page: UInt64) -> UInt64 {
        0x5eed_0000_0000_0000 | UInt64(vcpu) << 32 | page
    }

    /// What a write stores (the page's second word).
    public static func stamp(vcpu: Int, page: UInt64) -> UInt64 {
        0x57a3_0000_0000_0000 | UInt64(vcpu) << 32 | page
    }
}
