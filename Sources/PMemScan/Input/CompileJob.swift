import Foundation

/// One file to parse and the compiler arguments that matter to parsing it.
struct CompileJob: Equatable {
    /// Absolute path of the source file.
    var file: String
    /// `-I`, `-D`, `-U`, `-include`, `-isystem`, `-std` and the like, with paths made absolute.
    var arguments: [String]
    /// C or C++ (extension, compiler, `-x`).
    var language: SourceLanguage
}

extension CompileJob {
    /// Flags that take their value as the next argument, and whose value is a path.
    private static let separatePathFlags: Set<String> = [
        "-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros",
    ]
    /// Flags that take their value as the next argument, not a path.
    private static let separateValueFlags: Set<String> = ["-D", "-U"]
    /// Flags kept as they are.
    private static let plainFlags: Set<String> = [
        "-ansi", "-m32", "-m64", "-funsigned-char", "-fsigned-char", "-pthread", "-nostdinc",
    ]

    /// The parse-relevant subset of a compiler command line, relative paths resolved against `directory`.
    ///
    /// Output, dependency and warning flags are dropped: libclang needs none of them
    /// and some (GCC-only options) would only add errors.
    static func parseArguments(_ argv: [String], directory: String) -> [String] {
        var out: [String] = []
        var index = 0
        func absolute(_ path: String) -> String {
            path.hasPrefix("/")
                ? path : URL(fileURLWithPath: directory).appendingPathComponent(path).standardized.path
        }
        while index < argv.count {
            let argument = argv[index]
            index += 1
            if separatePathFlags.contains(argument), index < argv.count {
                out += [argument, absolute(argv[index])]
                index += 1
            } else if separateValueFlags.contains(argument), index < argv.count {
                out += [argument, argv[index]]
                index += 1
            } else if let flag = ["-I", "-isystem", "-iquote", "-idirafter"].first(where: {
                argument.hasPrefix($0)
            }),
                argument.count > flag.count
            {
                out += [flag, absolute(String(argument.dropFirst(flag.count)))]
            } else if argument.hasPrefix("-D") || argument.hasPrefix("-U") || argument.hasPrefix("-std=")
                || plainFlags.contains(argument)
            {
                out.append(argument)
            }
        }
        return out
    }

    /// Splits a shell command line the way `sh` would for plain words, quotes and backslashes.
    static func shellWords(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                inWord = true
            } else if character == "\\" && quote != "'" {
                escaped = true
            } else if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" || character == "\n" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// The jobs of a `compile_commands.json`.
    static func load(compileCommands path: String) throws(ScanError) -> [CompileJob] {
        if let kind = RegularFile.otherKind(of: path) { throw .notRegularFile(path: path, kind: kind) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badCompileCommands(path: path, reason: "cannot read the file")
        }
        guard let entries = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
            throw .badCompileCommands(path: path, reason: "not a JSON array of objects")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var jobs: [CompileJob] = []
        for (number, entry) in entries.enumerated() {
            guard let file = entry["file"] as? String else {
                throw .badCompileCommands(path: path, reason: "entry \(number) has no \"file\"")
            }
            let directory = (entry["directory"] as? String) ?? base
            let argv: [String]
            if let arguments = entry["arguments"] as? [String] {
                argv = arguments
            } else if let command = entry["command"] as? String {
                argv = shellWords(command)
            } else {
                throw .badCompileCommands(
                    path: path, reason: "entry \(number) has neither \"arguments\" nor \"command\"")
            }
            let absoluteFile =
                file.hasPrefix("/")
                ? file : URL(fileURLWithPath: directory).appendingPathComponent(file).standardized.path
            // Assembler and other languages' entries are not ours to parse.
            guard SourceLanguage.of(path: absoluteFile) != nil,
                let language = SourceLanguage.of(commandLine: argv, file: absoluteFile)
            else { continue }
            jobs.append(
                CompileJob(
                    file: absoluteFile,
                    arguments: parseArguments(Array(argv.dropFirst()), directory: directory),
                    language: language))
        }
        return jobs
    }
}
