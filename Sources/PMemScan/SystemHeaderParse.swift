import Foundation

extension PersistenceAnalyzer {
    /// Parses, for each input file, a unit holding only its `#include <...>` lines:
    /// the cost of the system headers alone, which the benchmark reports apart from
    /// the analysis of the application's own lines.
    ///
    /// Returns the number of units parsed.
    public func parseSystemHeadersOnly() throws(ScanError) -> Int {
        try Self.onLargeStack { () throws(ScanError) in try parseSystemHeadersHere() }
    }

    private func parseSystemHeadersHere() throws(ScanError) -> Int {
        let jobs = try input.jobs()
        let index = ClangIndex()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pmemscan-headers-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (number, job) in jobs.enumerated() {
            let source = (try? String(contentsOfFile: job.file, encoding: .utf8)) ?? ""
            let includes = source.split(separator: "\n", omittingEmptySubsequences: false).filter {
                $0.trimmingCharacters(in: .whitespaces).hasPrefix("#include <")
            }
            let path = directory.appendingPathComponent("headers-\(number).c").path
            // A file that cannot be written fails the parse below, which names it.
            try? Data(includes.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
            _ = try TranslationUnit(index: index, path: path, arguments: job.arguments)
        }
        return jobs.count
    }
}
