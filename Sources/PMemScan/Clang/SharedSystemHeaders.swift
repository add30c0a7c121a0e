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
/// group whose PCH does not build cleanly.
///
/// A group's PCH is built by the first thread that needs it; meanwhile the other
/// threads parse their units of that group without it (the report is the same
/// either way), so no core waits for the build. Files live in a temporary
/// directory removed with this object.
final class SharedSystemHeaders: @unchecked Sendable {
    /// Groups that would share one PCH; groups of one are not worth building.
    static let minimumGroup = 2

    /// One PCH to be: the include lines and the flags to precompile them with.
    private struct Group {
        var includes: [String]
        var flags: [String]
    }

    /// Where a group's PCH stands.
    private enum State {
        case notBuilt
        case building
        /// Built (its path), or failed to build (nil).
        case done(String?)
    }

    private let lock = NSLock()
    private let groupOfJob: [Int?]
    private let groups: [Group]
    private var states: [State]
    private let directory: URL

    /// Plans the groups of `jobs`; nothing is built yet.
    init(jobs: [CompileJob]) {
        struct GroupKey: Hashable {
            var language: SourceLanguage
            var arguments: [String]
            var includes: [String]
        }
        var members: [GroupKey: [Int]] = [:]
        var order: [GroupKey] = []
        for (number, job) in jobs.enumerated() {
            guard !job.arguments.contains(where: { $0 == "-include" || $0 == "-imacros" }),
                let data = FileManager.default.contents(atPath: job.file)
            else { continue }
            let includes = LeadingSystemIncludes.of(text: String(decoding: data, as: UTF8.self))
            guard !includes.isEmpty else { continue }
            let key = GroupKey(language: job.language, arguments: job.arguments, includes: includes)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(number)
        }
        var groupOfJob = [Int?](repeating: nil, count: jobs.count)
        var groups: [Group] = []
        for key in order where members[key]!.count >= Self.minimumGroup {
            for job in members[key]! { groupOfJob[job] = groups.count }
            let flags =
                key.language.headerArguments + key.arguments.dropFirst(key.language.parseArguments.count)
            groups.append(Group(includes: key.includes, flags: flags))
        }
        self.groupOfJob = groupOfJob
        self.groups = groups
        states = Array(repeating: .notBuilt, count: groups.count)
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pmemscan-pch-\(getpid())-\(UUID().uuidString)")
    }

    deinit {
        if !groups.isEmpty { try? FileManager.default.removeItem(at: directory) }
    }

    /// Jobs that belong to a group (and load its PCH once it is built).
    var groupedJobs: Int { groupOfJob.lazy.filter { $0 != nil }.count }

    /// What to add to job `number`'s arguments: `-include-pch FILE`, or nothing when
    /// the job has no group, its PCH failed, or another thread is still building it.
    /// Builds the PCH with `index` (on this thread) when no thread has started it.
    func arguments(forJob number: Int, index: ClangIndex) -> [String] {
        guard let group = groupOfJob[number] else { return [] }
        lock.lock()
        switch states[group] {
        case .done(let path):
            lock.unlock()
            return path.map { ["-include-pch", $0] } ?? []
        case .building:
            lock.unlock()
            return []
        case .notBuilt:
            states[group] = .building
            lock.unlock()
        }
        let path = build(group, index: index)
        lock.lock()
        states[group] = .done(path)
        lock.unlock()
        return path.map { ["-include-pch", $0] } ?? []
    }

    /// Writes group `number`'s include lines and precompiles them; nil when that fails.
    private func build(_ number: Int, index: ClangIndex) -> String? {
        let group = groups[number]
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let header = directory.appendingPathComponent("group-\(number).h").path
        let output = directory.appendingPathComponent("group-\(number).pch").path
        let text = group.includes.joined(separator: "\n") + "\n"
        guard (try? Data(text.utf8).write(to: URL(fileURLWithPath: header))) != nil,
            TranslationUnit.precompile(index: index, header: header, arguments: group.flags, output: output)
        else { return nil }
        return output
    }
}
