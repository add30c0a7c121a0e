import Foundation

/// One measured case: our code and, where one exists, its baseline, on the same work.
struct BenchCase {
    /// The case name (contract names per suite, e.g. `persist-64B`).
    var name: String
    /// Units of work one measurement covers (ns figures are per unit).
    var unitCount: Int
    /// Runs our code over `unitCount` units; returns elapsed nanoseconds.
    var ours: () throws -> UInt64
    /// The baseline's name (`libpmem pmem_persist`), or `nil` when none exists.
    var baselineName: String?
    /// Runs the baseline over the same units; returns elapsed nanoseconds.
    var baseline: (() throws -> UInt64)?
    /// Figures beyond the contract's (GB/s, exits per flush), computed from the medians.
    var extra: (_ oursNs: Double, _ baselineNs: Double?) -> [String: Double] = { _, _ in [:] }
}

/// A result row of the benchmark contract.
struct CaseResult: Codable {
    var name: String
    var oursNs: Double
    var baseline: String?
    var baselineNs: Double?
    var speedup: Double?
    var unitCount: Int
    var extra: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case name, baseline, speedup, extra
        case oursNs = "ours_ns"
        case baselineNs = "baseline_ns"
        case unitCount = "unit_count"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(oursNs, forKey: .oursNs)
        try c.encode(baseline, forKey: .baseline)
        try c.encode(baselineNs, forKey: .baselineNs)
        try c.encode(speedup, forKey: .speedup)
        try c.encode(unitCount, forKey: .unitCount)
        try c.encodeIfPresent(extra, forKey: .extra)
    }
}

/// The machine a run happened on.
struct MachineInfo: Codable {
    var cpu: String
    var cores: Int
    var backing: String
    var virtualized: String
}

/// The whole report (`pmem-bench SUITE --json`).
struct SuiteReport: Codable {
    var suite: String
    var machine: MachineInfo
    var cases: [CaseResult]
}

/// Runs cases: warm-up, then rounds in which ours and the baseline alternate
/// which goes first, and reports the medians per unit.
struct Runner {
    var warmupRounds: Int
    var rounds: Int
    var progress: Bool

    func run(_ bench: BenchCase) throws -> CaseResult {
        var ours: [Double] = []
        var base: [Double] = []
        let units = Double(bench.unitCount)
        for round in 0..<(warmupRounds + rounds) {
            let baselineFirst = round % 2 == 1
            var o = 0.0
            var b: Double?
            if baselineFirst, let baseline = bench.baseline { b = Double(try baseline()) / units }
            o = Double(try bench.ours()) / units
            if !baselineFirst, let baseline = bench.baseline { b = Double(try baseline()) / units }
            if round >= warmupRounds {
                ours.append(o)
                if let b { base.append(b) }
            }
        }
        let oursMedian = median(ours)
        let baseMedian = base.isEmpty ? nil : median(base)
        if progress {
            FileHandle.standardError.write(Data("  \(bench.name) done\n".utf8))
        }
        let extra = bench.extra(oursMedian, baseMedian)
        return CaseResult(
            name: bench.name, oursNs: oursMedian, baseline: bench.baselineName, baselineNs: baseMedian,
            speedup: baseMedian.map { $0 / oursMedian }, unitCount: bench.unitCount,
            extra: extra.isEmpty ? nil : extra)
    }
}

/// The median of a non-empty sample.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Monotonic nanoseconds.
@inline(__always) func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Times `body` and returns elapsed nanoseconds.
@inline(__always) func timed(_ body: () throws -> Void) rethrows -> UInt64 {
    let start = nowNs()
    try body()
    return nowNs() - start
}
