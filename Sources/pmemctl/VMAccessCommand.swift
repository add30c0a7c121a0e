import ArgumentParser
import Foundation
import PMemKit
import PMemVirt

/// Page access as a guest sets it, as the command line spells it.
enum GuestAccessArgument: String, ExpressibleByArgument, CaseIterable {
    case none, read

    var model: GuestAccess { self == .none ? .none : .readOnly }
}

/// Who handles a guest's faults.
enum FaultHandlerArgument: String, ExpressibleByArgument, CaseIterable {
    case guest, host
}

/// A handler's answer, as the command line spells it.
enum FaultAnswerArgument: String, ExpressibleByArgument, CaseIterable {
    case retry, allow, skip, end

    var model: GuestFaultDecision { GuestFaultDecision(rawValue: rawValue)! }
}

/// `pmemctl vm access`: run the `access` guest, which sets access on its own
/// pages by hypercall and touches them, and report the faults and who handled them.
struct VMAccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract:
            "Run the access guest: each vCPU protects its own pages by hypercall and touches each once.",
        discussion: """
            Faults go to the guest's own handler (entered on the faulting vCPU) or to the host's. The \
            handler answers --answer: retry (after making the page read-write), allow, skip or end. \
            --on-fault runs a command per fault instead (/bin/sh -c, the fault in PMEMKIT_FAULT_* \
            variables; it prints retry, allow, skip or end, nothing meaning allow).
            """)

    @Option(help: "Pages each vCPU protects (1-4096).") var pages: UInt64 = 4
    @Option(help: "vCPUs, each a host thread (1-64).") var vcpus: Int = 1
    @Option(help: "The access the pages get: none or read.") var access: GuestAccessArgument = .read
    @Flag(help: "Read each page instead of writing it.") var reads = false
    @Option(help: "guest (the default) or host.") var handler: FaultHandlerArgument?
    @Option(help: "What the handler answers: retry, allow, skip or end.") var answer: FaultAnswerArgument =
        .retry
    @Option(help: "A command that decides each fault (the host's handler).") var onFault: String?
    @Option(help: "Seconds before every vCPU is stopped and the run fails.") var timeout: Double = 60
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...64).contains(vcpus) else { throw ValidationError("--vcpus must be 1 to 64") }
        guard (1...4096).contains(pages) else { throw ValidationError("--pages must be 1 to 4096") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if onFault != nil && handler == .guest {
            throw ValidationError("--on-fault is the host's handler; it cannot go with --handler guest")
        }
        if reads && access == .read {
            throw ValidationError("reads of read-only pages do not fault: use --access none with --reads")
        }
    }

    func run() throws {
        try reportingFailures {
            let kvm = try KVM.availability().get()
            var workload = AccessWorkload(mode: .touch)
            workload.pagesPerVCPU = pages
            workload.access = access.model
            workload.writes = !reads
            workload.guestHandler = (handler ?? (onFault == nil ? .guest : .host)) == .guest
            workload.answer = answer.model
            var configuration = VMConfiguration()
            configuration.vcpus = vcpus
            configuration.timeout = timeout
            // The guest's pages start at half its RAM: enough RAM for every vCPU's pages and stack.
            let needed =
                2 * (UInt64(vcpus) * pages * GuestLayout.pageSize + UInt64(vcpus) * GuestLayout.stackSize)
            configuration.ramSize = max(configuration.ramSize, (needed + (1 << 20) - 1) & ~((1 << 20) - 1))
            configuration.faultHandler =
                onFault.map { CommandFaultHandler(command: $0) } ?? workload.matchingHostHandler
            var report = try workload.run(
                configuration, handlerName: onFault.map { "command: \($0)" } ?? "host", kvm: kvm)
            // A command prints its own answer per fault; --answer did not apply.
            if onFault != nil { report.answer = nil }
            if json {
                try Output.json(report)
            } else {
                Output.table(Self.rows(report))
            }
        }
    }

    static func rows(_ r: VMAccessReport) -> [[String]] {
        [
            ["vcpus", "\(r.vcpus)"],
            [
                "pages_per_vcpu",
                "\(r.pagesPerVCPU) (\(r.access.rawValue), each \(r.touch == "write" ? "written" : "read") once)",
            ],
            ["handler", r.answer.map { "\(r.handler), answering \($0.rawValue)" } ?? r.handler],
            ["faults", "\(r.faults)"],
            ["guest_handler_entries", "\(r.guestHandlerEntries)"],
            ["host_handler_calls", "\(r.hostHandlerCalls)"],
            ["access_changes", "\(r.accessChanges) (\(r.memslotCalls) memslot calls)"],
            ["guest_errors", "\(r.guestErrors)"],
            ["wall_ns", "\(r.wallNs)"],
        ]
    }
}
