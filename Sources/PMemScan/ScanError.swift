/// Why an analysis could not run, one line each.
public enum ScanError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A source file named on the command line or in the compilation database does not exist.
    case fileNotFound(String)
    /// libclang could not parse the file at all (not a missing header: those are diagnostics).
    case parseFailed(path: String, code: Int)
    /// The compilation database is missing, unreadable or not the JSON array it should be.
    case badCompileCommands(path: String, reason: String)
    /// Nothing to analyze: no files and no compilation database entries.
    case noInput
    /// A source file or compilation database that is not a regular file (a
    /// FIFO, a device, a directory): refused before libclang opens it.
    case notRegularFile(path: String, kind: String)
    /// A source file nested (or chained) deeper than the analysis can follow
    /// safely: an estimate of `depth` levels at `line` (see `NestingEstimate`).
    case nestedTooDeep(path: String, line: Int, depth: Int, limit: Int)
    /// The thread the analysis runs on (with its large stack) could not be made.
    case noAnalysisThread(stackBytes: Int)
    /// `--emit-c` has no type a header can describe.
    case nothingToEmit(reason: String)
    /// The `--emit-c-prefix` is not a C identifier.
    case badEmitPrefix(String)
    /// The analysis ran but its empty result cannot be trusted (`ScanReport.checkConclusive`).
    case inconclusive(String)
    /// The `--emit-c` header could not be written.
    case cannotWrite(path: String, reason: String)

    /// `analyze: what went wrong`, one line.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "analyze: no such source file: \(path)"
        case .parseFailed(let path, let code):
            return "analyze: libclang could not parse \(path) (CXErrorCode \(code))"
        case .badCompileCommands(let path, let reason):
            return "analyze: bad compilation database \(path): \(reason)"
        case .notRegularFile(let path, let kind):
            return "analyze: \(path) is \(kind), not a regular file"
        case .nestedTooDeep(let path, let line, let depth, let limit):
            return "analyze: \(path):\(line): nested or chained about \(depth) levels deep, more than the "
                + "\(limit) the analysis follows"
        case .noAnalysisThread(let bytes):
            return "analyze: could not start the analysis thread with its \(bytes >> 20) MiB stack"
        case .nothingToEmit(let reason):
            return "analyze: nothing to emit as C: \(reason)"
        case .badEmitPrefix(let prefix):
            return
                "analyze: the C prefix '\(prefix)' is not a C identifier (letters, digits, _; not starting with a digit)"
        case .inconclusive(let reason):
            return "analyze: \(reason)"
        case .cannotWrite(let path, let reason):
            return "analyze: cannot write \(path): \(reason)"
        case .noInput:
            return "analyze: no source files to analyze (name files or pass --compile-commands)"
        }
    }
}
