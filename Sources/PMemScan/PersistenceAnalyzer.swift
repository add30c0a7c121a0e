import Foundation

/// Finds the persistent-state types of a C application: parses its translation
/// units with libclang, finds block I/O sites, follows their buffers back to
/// record types, and reports them with evidence, size and pointer offsets.
public struct PersistenceAnalyzer {
    /// What to analyze.
    public var input: ScanInput

    /// Creates an analyzer for `input`.
    public init(input: ScanInput) {
        self.input = input
    }

    /// Parses every file and runs the analysis.
    ///
    /// A file whose headers are missing is still analyzed with what parsed; the
    /// missing headers are listed in the report's diagnostics.
    public func run() throws(ScanError) -> ScanReport {
        try Self.onLargeStack { () throws(ScanError) in try runHere() }
    }

    /// Levels of nesting a source file may reach (`NestingEstimate`): far
    /// beyond real code, and shallow enough for the analysis stack.
    static let nestingLimit = 10_000

    /// Bytes of stack the analysis runs with: libclang recurses a few KiB per
    /// level of nesting, and so do the walks after it. Address space, not
    /// memory: only what a deep input reaches is touched.
    static let stackBytes = 1 << 30

    /// Runs `body` on a thread with `stackBytes` of stack: every parse
    /// (libclang runs it on the calling thread, `LIBCLANG_NOTHREADS`, not on
    /// its own 8 MiB one) and every walk of what it parsed.
    static func onLargeStack<T>(_ body: @escaping () throws(ScanError) -> T) throws(ScanError) -> T {
        let outcome = LargeStack.run(bytes: stackBytes) { () -> Result<T, ScanError> in
            do throws(ScanError) { return .success(try body()) } catch { return .failure(error) }
        }
        guard let outcome else { throw .noAnalysisThread(stackBytes: stackBytes) }
        return try outcome.get()
    }

    /// Refuses a file whose text nests deeper than `nestingLimit` (an
    /// estimate; see `NestingEstimate`) before libclang recurses into it.
    static func checkNesting(_ path: String) throws(ScanError) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let estimate = NestingEstimate(bytes: [UInt8](data))
        guard estimate.depth <= nestingLimit else {
            throw .nestedTooDeep(path: path, line: estimate.line, depth: estimate.depth, limit: nestingLimit)
        }
    }

    private func runHere() throws(ScanError) -> ScanReport {
        let timing = AnalysisTiming()
        defer { timing.report() }
        let jobs = try timing.measure("jobs") { () throws(ScanError) in try input.jobs() }
        let units = try UnitCollection.run(
            jobs: jobs, threads: input.threads ?? Self.defaultThreads,
            // A PCH's declarations are not visited, and with them go the typedef
            // names of system records, which only reported system types need.
            precompileSystemHeaders: input.precompileSystemHeaders && !input.includeSystemTypes,
            collectFacts: true, stackBytes: Self.stackBytes, timing: timing)
        var facts = FactBase()
        timing.measure("merge") { for unit in units { facts.absorb(unit.facts) } }
        var report = Self.analyze(facts, includeSystemTypes: input.includeSystemTypes, timing: timing).with(
            diagnostics: units.flatMap(\.diagnostics), translationUnits: jobs.count,
            lines: units.reduce(0) { $0 + $1.lines })
        report.templatesNotAnalyzed = facts.templatesWithIO.filter {
            !facts.instantiatedTemplates.contains($0.usr)
        }
        .map(\.io).sorted { $0.location < $1.location }
        return report
    }

    /// Threads when the input does not say: one per core this process may use.
    public static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Solves collected facts into the reported types.
    static func analyze(
        _ facts: FactBase, includeSystemTypes: Bool, timing: AnalysisTiming = AnalysisTiming()
    )
        -> ScanReport
    {
        let pointsTo = timing.measure("points-to") { PointsTo(facts: facts) }
        let reachability = timing.measure("reachability") { Reachability(facts: facts, pointsTo: pointsTo) }
        let hits = timing.measure("hits") { reachability.hits(of: facts.sites + pointsTo.indirectSites) }
        let types = timing.measure("selection") {
            TypeSelection(includeSystemTypes: includeSystemTypes).select(hits: hits, facts: facts)
        }
        return ScanReport(types: types, diagnostics: [], translationUnits: 0, lines: 0)
    }

    /// Lines in a file (newline count, plus a last unterminated line).
    static func lineCount(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return 0 }
        let newlines = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        return data.last == 0x0A ? newlines : newlines + 1
    }
}

extension ScanReport {
    func with(diagnostics: [Diagnostic], translationUnits: Int, lines: Int) -> ScanReport {
        var copy = self
        copy.diagnostics = diagnostics
        copy.translationUnits = translationUnits
        copy.lines = lines
        return copy
    }
}
