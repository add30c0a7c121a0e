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
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pmemscan-headers-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var headerJobs: [CompileJob] = []
        for (number, job) in jobs.enumerated() {
            let source = (try? String(contentsOfFile: job.file, encoding: .utf8)) ?? ""
            let includes = source.split(separator: "\n", omittingEmptySubsequences: false).filter {
                $0.trimmingCharacters(in: .whitespaces).hasPrefix("#include <")
            }
            let path = directory.appendingPathComponent("headers-\(number).c").path
            // A file that cannot be written fails the parse below, which names it.
            try? Data(includes.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
            headerJobs.append(CompileJob(file: path, arguments: job.arguments, language: job.language))
        }
        // Parsed as the analysis parses them: same threads, same shared precompiled headers.
        _ = try UnitCollection.run(
            jobs: headerJobs, threads: input.threads ?? Self.defaultThreads,
            precompileSystemHeaders: input.precompileSystemHeaders && !input.includeSystemTypes,
            collectFacts: false, stackBytes: Self.stackBytes)
        return jobs.count
    }
}
