import ArgumentParser
import Foundation
import PMemKit

/// A benchmark suite: builds its cases on a backing and names that backing.
protocol BenchSuite {
    /// The suite's name on the command line.
    static var name: String { get }
    /// What one line of help says about it.
    static var summary: String { get }
    /// Prepares the suite (maps its backing, builds its data).
    init(options: BenchOptions) throws
    /// The backing it runs on, honestly (`emulated: DRAM (/dev/shm)`).
    var backing: String { get }
    /// The cases, in report order.
    func cases() throws -> [BenchCase]
    /// Measured rounds per case (after a few warm-up rounds); suites whose
    /// samples are short take many, so preemption by other processes lands
    /// in few of them and the median stays clean.
    var rounds: Int { get }
}

extension BenchSuite {
    /// The default: 31 rounds.
    var rounds: Int { 31 }
}

/// Options every suite sees.
struct BenchOptions {
    /// Fewer rounds and smaller data, for CI smoke runs.
    var quick: Bool
    /// Where to put the backing file or device; suites default to /dev/shm.
    var path: String?
    /// Thread counts for the suites' multi-threaded cases (`--threads 1,2`); empty: none.
    var threads: [Int] = []
}

/// Every suite, by name.
var allSuites: [any BenchSuite.Type] {
    [
        PersistSuite.self,
        VFHASuite.self,
        ProtectSuite.self,
        AnalyzeSuite.self,
        HeapSuite.self,
        ReplicationSuite.self,
        ConvertSuite.self,
    ]
}

/// `pmem-bench <suite> [--json] [--quick]`: our code against PMDK or OS baselines.
@main
struct PMemBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmem-bench",
        abstract:
            "Benchmarks against PMDK and OS baselines, reported as speedups (baseline time / our time).",
        discussion: "Suites:\n" + allSuites.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n"))

    @Argument(help: "The suite to run.")
    var suite: String

    @Flag(help: "Print the report as JSON (the benchmark contract).")
    var json = false

    @Flag(help: "Fewer rounds and smaller data: a smoke run, not figures to report.")
    var quick = false

    @Option(help: "File or DAX device to run on (default: a file in /dev/shm).")
    var path: String?

    @Option(
        help: ArgumentHelp(
            "Also run the multi-threaded cases at these thread counts (heap: allocation and transactions, "
                + "each against libpmemobj at the same count).", valueName: "n[,n...]"))
    var threads: String?

    /// `--threads` as numbers.
    private var threadCounts: [Int] {
        threads?.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? []
    }

    func validate() throws {
        do {
            _ = try Overrides.current()
        } catch let error as PMemError {
            throw ValidationError(error.detail)
        }
        if let threads {
            let counts = threads.split(separator: ",", omittingEmptySubsequences: false)
            guard !counts.isEmpty, counts.allSatisfy({ Int($0).map { (1...256).contains($0) } ?? false })
            else {
                throw ValidationError(
                    "--threads takes counts from 1 to 256, comma-separated, not '\(threads)'")
            }
        }
        guard allSuites.contains(where: { $0.name == suite }) else {
            throw ValidationError(
                "unknown suite '\(suite)'; suites: \(allSuites.map { $0.name }.joined(separator: ", "))")
        }
    }

    func run() throws {
        let type = allSuites.first { $0.name == suite }!
        let instance = try type.init(options: BenchOptions(quick: quick, path: path, threads: threadCounts))
        let runner = Runner(
            warmupRounds: quick ? 1 : 3, rounds: quick ? 5 : instance.rounds, progress: !json)
        var results: [CaseResult] = []
        for bench in try instance.cases() {
            results.append(try runner.run(bench))
        }
        let report = SuiteReport(
            suite: suite, machine: .current(backing: instance.backing), cases: results)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table(), terminator: "")
        }
    }
}
