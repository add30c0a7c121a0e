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
        let jobs = try input.jobs()
        let index = ClangIndex()
        let collector = FactCollector()
        var diagnostics: [Diagnostic] = []
        var lines = 0
        for job in jobs {
            let unit = try TranslationUnit(index: index, path: job.file, arguments: job.arguments)
            diagnostics += unit.errors
            collector.collect(unit)
            lines += Self.lineCount(job.file)
        }
        return Self.analyze(collector.facts, includeSystemTypes: input.includeSystemTypes).with(
            diagnostics: diagnostics, translationUnits: jobs.count, lines: lines)
    }

    /// Solves collected facts into the reported types.
    static func analyze(_ facts: FactBase, includeSystemTypes: Bool) -> ScanReport {
        let pointsTo = PointsTo(facts: facts)
        let reachability = Reachability(facts: facts, pointsTo: pointsTo)
        let hits = reachability.hits(of: facts.sites + pointsTo.indirectSites)
        let types = TypeSelection(includeSystemTypes: includeSystemTypes).select(hits: hits, facts: facts)
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
