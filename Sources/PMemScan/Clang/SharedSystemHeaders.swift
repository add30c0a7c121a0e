import Foundation

/// Precompiled headers for the system headers that units share: units with the
/// same language and flags that open with the same `#include <...>` lines
/// (`LeadingSystemIncludes`) get one PCH of those lines, built once and loaded by
/// each with `-include-pch`.
///
/// The unit's text is unchanged: its own `#include` lines then find the headers
/// already read, and their include guards make them empty, so the unit means
/// what it meant. A unit whose flags force-include a file (`-include`,
/// `-imacros`), or that opens with anything else, is parsed as before; so is a
/// group whose PCH does not build cleanly. Files live in a temporary directory
/// removed with this object.
final class SharedSystemHeaders {
    /// Per job, in job order: the arguments to add (`-include-pch FILE`), or none.
    let extraArguments: [[String]]
    /// Jobs that load a precompiled header.
    let coveredJobs: Int
    private let directory: URL?

    /// Groups that would share one PCH; groups of one are not worth building.
    static let minimumGroup = 2

    /// Builds the PCHs for `jobs` with `index` (the calling thread parses them).
    init(jobs: [CompileJob], index: ClangIndex) {
        struct GroupKey: Hashable {
            var language: SourceLanguage
            var arguments: [String]
            var includes: [String]
        }
        var groups: [GroupKey: [Int]] = [:]
        var order: [GroupKey] = []
        for (number, job) in jobs.enumerated() {
            guard !job.arguments.contains(where: { $0 == "-include" || $0 == "-imacros" }),
                let data = FileManager.default.contents(atPath: job.file)
            else { continue }
            let includes = LeadingSystemIncludes.of(text: String(decoding: data, as: UTF8.self))
            guard !includes.isEmpty else { continue }
            let key = GroupKey(language: job.language, arguments: job.arguments, includes: includes)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(number)
        }
        var extra = [[String]](repeating: [], count: jobs.count)
        let worthBuilding = order.filter { groups[$0]!.count >= Self.minimumGroup }
        guard !worthBuilding.isEmpty else {
            extraArguments = extra
            coveredJobs = 0
            directory = nil
            return
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pmemscan-pch-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var covered = 0
        for (number, key) in worthBuilding.enumerated() {
            let header = directory.appendingPathComponent("group-\(number).h").path
            let output = directory.appendingPathComponent("group-\(number).pch").path
            guard
                (try? Data((key.includes.joined(separator: "\n") + "\n").utf8).write(
                    to: URL(fileURLWithPath: header)))
                    != nil
            else { continue }
            let flags =
                key.language.headerArguments + key.arguments.dropFirst(key.language.parseArguments.count)
            guard TranslationUnit.precompile(index: index, header: header, arguments: flags, output: output)
            else { continue }
            for job in groups[key]! {
                extra[job] = ["-include-pch", output]
                covered += 1
            }
        }
        extraArguments = extra
        coveredJobs = covered
        self.directory = directory
    }

    deinit {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}
