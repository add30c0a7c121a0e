import Foundation

extension ScanInput {
    /// The files to parse, each with its arguments: database flags, then the user's `-I`/`-D`.
    func jobs() throws(ScanError) -> [CompileJob] {
        let extra = includeDirectories.flatMap { ["-I", absolute($0)] } + defines.map { "-D\($0)" }
        var jobs: [CompileJob] = []
        if let compileCommands {
            let database = try CompileJob.load(compileCommands: compileCommands)
            let wanted = Set(files.map(absolute))
            jobs = database.filter { wanted.isEmpty || wanted.contains($0.file) }
            let covered = Set(jobs.map(\.file))
            // Files named on the command line but absent from the database: the user's flags only.
            jobs += files.map(absolute).filter { !covered.contains($0) }.map(Self.plainJob)
        } else {
            jobs = files.map(absolute).map(Self.plainJob)
        }
        guard !jobs.isEmpty else { throw .noInput }
        var seen = Set<String>()
        jobs = jobs.filter { seen.insert($0.file).inserted }
        for job in jobs {
            guard FileManager.default.fileExists(atPath: job.file) else { throw .fileNotFound(job.file) }
            if let kind = RegularFile.otherKind(of: job.file) {
                throw .notRegularFile(path: job.file, kind: kind)
            }
        }
        return jobs.map {
            CompileJob(
                file: $0.file, arguments: $0.language.parseArguments + $0.arguments + extra,
                language: $0.language)
        }
    }

    /// A file named on the command line: C++ by its extension, else C (as before C++ was known).
    private static func plainJob(_ path: String) -> CompileJob {
        CompileJob(file: path, arguments: [], language: SourceLanguage.of(path: path) ?? .c)
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/")
            ? path
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
                .standardized.path
    }
}
