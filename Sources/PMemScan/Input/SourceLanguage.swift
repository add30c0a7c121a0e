import Foundation

/// The language a translation unit is parsed as.
enum SourceLanguage: Equatable {
    case c
    case cPlusPlus

    /// What tells libclang the language: `-x c`, or `-x c++` with C++17 (a
    /// compilation database's own `-std=` comes later and wins).
    var parseArguments: [String] {
        switch self {
        case .c: return ["-xc"]
        case .cPlusPlus: return ["-x", "c++", "-std=c++17"]
        }
    }

    private static let cExtensions: Set<String> = ["c", "h", "i"]
    private static let cPlusPlusExtensions: Set<String> = [
        "cc", "cpp", "cxx", "c++", "cp", "C", "hpp", "hh", "hxx", "h++", "H", "ii", "ipp", "tcc",
    ]

    /// The language a file name implies, or nil for an extension that names neither.
    static func of(path: String) -> SourceLanguage? {
        let suffix = URL(fileURLWithPath: path).pathExtension
        if cPlusPlusExtensions.contains(suffix) { return .cPlusPlus }
        if cExtensions.contains(suffix) { return .c }
        return nil
    }

    /// The language of a compiler command line: `-x c++` or `-x c` when given, then
    /// the compiler (`g++`, `clang++`, `c++`, `x86_64-linux-gnu-g++-12` compile even a
    /// `.c` file as C++), then the file's extension.
    static func of(commandLine argv: [String], file: String) -> SourceLanguage? {
        var explicit: SourceLanguage?
        for (index, argument) in argv.enumerated() {
            let value: String?
            if argument == "-x", index + 1 < argv.count {
                value = argv[index + 1]
            } else if argument.hasPrefix("-x"), argument.count > 2 {
                value = String(argument.dropFirst(2))
            } else {
                value = nil
            }
            switch value {
            case "c", "c-header", "cpp-output": explicit = .c
            case "c++", "c++-header", "c++-cpp-output": explicit = .cPlusPlus
            default: break
            }
        }
        if let explicit { return explicit }
        if let compiler = argv.first, URL(fileURLWithPath: compiler).lastPathComponent.contains("++") {
            return .cPlusPlus
        }
        return of(path: file)
    }
}
