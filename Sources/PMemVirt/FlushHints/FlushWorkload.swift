internal import CKVMShim
import Foundation
import PMemKit

/// The built-in flush workload (`tools/guests/flush.c`): each vCPU writes
/// a line of vPMem, flushes it, fences, writes the flush hint and fences,
/// `iterations` times, as the Linux nvdimm driver orders a flush.
public struct FlushWorkload: Sendable {
    /// Flush sequences per vCPU.
    public var iterations: Int
    /// Data lines each vCPU cycles through (its area is these plus a header line).
    public var linesPerVCPU: Int

    /// A workload; the defaults make a quick run.
    public init(iterations: Int = 1000, linesPerVCPU: Int = 16) {
        self.iterations = iterations
        self.linesPerVCPU = max(1, linesPerVCPU)
    }

    /// Bytes of one vCPU's area: a header line and the data lines.
    var areaBytes: Int { (linesPerVCPU + 1) * 64 }

    /// vPMem bytes `vcpus` vCPUs need, in whole pages.
    public func vpmemBytes(vcpus: Int) -> Int {
        let page = Int(GuestLayout.pageSize)
        return (vcpus * areaBytes + page - 1) / page * page
    }

    /// The guest's boot arguments.
    public var bootArguments: [UInt64] { [UInt64(iterations), UInt64(linesPerVCPU)] }

    /// Runs the workload with `configuration` (its boot arguments are replaced).
    public func run(_ configuration: VMConfiguration, kvm: KVM? = nil) throws -> VMFlushReport {
        var configuration = configuration
        configuration.bootArguments = bootArguments
        guard let vpmem = configuration.vpmem, vpmem.size >= vpmemBytes(vcpus: configuration.vcpus) else {
            throw PMemError(
                .invalidArgument, operation: "flush workload",
                detail: "needs \(vpmemBytes(vcpus: configuration.vcpus)) bytes of vPMem for "
                    + "\(configuration.vcpus) vCPUs")
        }
        let vm = try VirtualMachine(configuration: configuration, kvm: kvm)
        let run = try vm.run(.flush)
        var report = try VMFlushReport(vm: vm, guest: GuestImage.flush.name, run: run)
        report.dataVerified = verify(vpmem, vcpus: configuration.vcpus)
        return report
    }

    /// The word vCPU `cpu` stores in every word of a line in iteration `sequence`.
    public static func word(cpu: Int, sequence: UInt64) -> UInt64 {
        UInt64(cpu) << 48 | sequence
    }

    /// Where vCPU `cpu`'s header line (holding the last sequence it wrote) starts in the vPMem.
    public func headerOffset(cpu: Int) -> Int { cpu * areaBytes }

    /// Where the data line of iteration `sequence` (from 1) of vCPU `cpu` starts in the vPMem.
    public func lineOffset(cpu: Int, sequence: UInt64) -> Int {
        headerOffset(cpu: cpu) + 64 + Int((sequence - 1) % UInt64(linesPerVCPU)) * 64
    }

    /// Whether the host mapping holds what every vCPU wrote last: the final
    /// sequence in each header and the words of the last pass over the lines.
    public func verify(_ vpmem: PMemMapping, vcpus: Int) -> Bool {
        let last = UInt64(iterations)
        for cpu in 0..<vcpus {
            let header = vpmem.base.load(fromByteOffset: headerOffset(cpu: cpu), as: UInt64.self)
            guard header == last else { return false }
            let first = last > UInt64(linesPerVCPU) ? last - UInt64(linesPerVCPU) + 1 : 1
            for sequence in stride(from: first, through: last, by: 1) where sequence >= 1 {
                let offset = lineOffset(cpu: cpu, sequence: sequence)
                for word in 0..<8
                where vpmem.base.load(fromByteOffset: offset + word * 8, as: UInt64.self)
                    != Self.word(cpu: cpu, sequence: sequence)
                {
                    return false
                }
            }
        }
        return true
    }
}
