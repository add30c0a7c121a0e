/// What one run of a guest program did, vCPU by vCPU.
public struct VMRunReport: Sendable {
    /// One entry per vCPU, by index.
    public var vcpus: [VCPUReport]
    /// Host nanoseconds from starting the first vCPU to the end of the last.
    public var wallNanoseconds: UInt64

    /// Host nanoseconds from the first vCPU's begin mark to the last vCPU's end mark.
    public var phaseSpan: UInt64? {
        let begins = vcpus.compactMap(\.phaseBegin)
        let ends = vcpus.compactMap(\.phaseEnd)
        guard begins.count == vcpus.count, ends.count == vcpus.count, let first = begins.min(),
            let last = ends.max(), last >= first
        else { return nil }
        return last - first
    }

    /// The sum of a reported counter over every vCPU.
    public func total(_ key: UInt64) -> UInt64 {
        vcpus.reduce(0) { $0 + ($1.reports[key] ?? 0) }
    }
}

/// What one vCPU did.
public struct VCPUReport: Sendable, Equatable {
    /// The vCPU index.
    public var index: Int
    /// The program's exit status; `nil` when it halted without one.
    public var exitStatus: UInt64?
    /// Counters the guest reported, by key (`PMK_REPORT_*`).
    public var reports: [UInt64: UInt64]
    /// Host nanoseconds between the guest's begin and end phase marks, if it made both.
    public var phaseNanoseconds: UInt64?
    /// Host monotonic nanoseconds at the guest's begin mark.
    public var phaseBegin: UInt64?
    /// Host monotonic nanoseconds at the guest's end mark.
    public var phaseEnd: UInt64?
    /// Lines the guest logged.
    public var log: [String]
    /// Exits by kind.
    public var exits: ExitCounts

    init(_ vcpu: VirtualCPU) {
        index = vcpu.index
        exitStatus = vcpu.exitStatus
        reports = vcpu.reports
        phaseBegin = vcpu.phaseBegin
        phaseEnd = vcpu.phaseEnd
        if let begin = vcpu.phaseBegin, let end = vcpu.phaseEnd, end >= begin {
            phaseNanoseconds = end - begin
        }
        log = vcpu.log
        exits = vcpu.exits
    }
}
