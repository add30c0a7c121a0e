internal import CClang
import Foundation

/// A libclang index: one per analysis thread, disposed with it (libclang parses
/// units of different indexes on different threads at once; one index is not
/// shared between threads).
final class ClangIndex {
    let raw: CXIndex

    /// Creates an index. Visiting a unit's top level then yields the declarations
    /// its parse produced, in order, and not those of a precompiled header (the
    /// system headers, see `SharedSystemHeaders`): libclang walks the unit's own
    /// list of top-level declarations instead of its declaration context, a list
    /// that also holds the C++ template instantiations the unit needed
    /// (`save<Sample>`), with their bodies, which the analysis walks like any function.
    init() {
        _ = Self.environment
        raw = clang_createIndex(1, 0)
    }

    deinit { clang_disposeIndex(raw) }

    /// Set once, before the first index and before any analysis thread reads the
    /// environment (`setenv` races `getenv` on other threads).
    private static let environment: Void = {
        // No crash recovery: libclang would install process-wide SIGSEGV/SIGBUS
        // handlers that re-raise faults they do not own, hijacking those of the
        // program it runs in (PMemProtect's, Swift's crash reporter).
        setenv("LIBCLANG_DISABLE_CRASH_RECOVERY", "1", 0)
        // Parse on the calling thread, not on a thread of libclang's with an
        // 8 MiB stack: the analysis calls it from threads with far larger ones
        // (`PersistenceAnalyzer.onLargeStack`), which deep inputs need.
        setenv("LIBCLANG_NOTHREADS", "1", 0)
    }()

    /// Sets the environment libclang reads; call before starting analysis threads.
    static func prepareEnvironment() { _ = environment }
}

/// One parsed C source file with its headers.
final class TranslationUnit {
    let raw: CXTranslationUnit
    /// The file that was parsed, as given.
    let path: String
    private let index: ClangIndex

    /// Parses `path` with compiler `arguments` (`-I`, `-D`, ...).
    ///
    /// Parsing keeps going past fatal errors such as a missing header, so the
    /// analysis sees every declaration that did parse.
    init(index: ClangIndex, path: String, arguments: [String]) throws(ScanError) {
        self.index = index
        self.path = path
        var unit: CXTranslationUnit?
        let options =
            CXTranslationUnit_KeepGoing.rawValue | CXTranslationUnit_IgnoreNonErrorsFromIncludedFiles.rawValue
        let status = withCStrings(arguments) { argv in
            clang_parseTranslationUnit2(
                index.raw, path, argv, Int32(arguments.count), nil, 0, options, &unit)
        }
        guard status == CXError_Success, let unit else {
            throw ScanError.parseFailed(path: path, code: Int(status.rawValue))
        }
        raw = unit
    }

    deinit { clang_disposeTranslationUnit(raw) }

    /// Parses `header` (a list of `#include <...>` lines) as a header with
    /// `arguments` and saves it as a precompiled header at `output`. Returns false,
    /// leaving nothing to use, when it has errors or cannot be saved.
    static func precompile(index: ClangIndex, header: String, arguments: [String], output: String) -> Bool {
        var unit: CXTranslationUnit?
        let options =
            CXTranslationUnit_Incomplete.rawValue | CXTranslationUnit_ForSerialization.rawValue
        let status = withCStrings(arguments) { argv in
            clang_parseTranslationUnit2(
                index.raw, header, argv, Int32(arguments.count), nil, 0, options, &unit)
        }
        guard status == CXError_Success, let unit else { return false }
        defer { clang_disposeTranslationUnit(unit) }
        for i in 0..<clang_getNumDiagnostics(unit) {
            let diagnostic = clang_getDiagnostic(unit, i)
            defer { clang_disposeDiagnostic(diagnostic) }
            let severity = clang_getDiagnosticSeverity(diagnostic)
            if severity == CXDiagnostic_Error || severity == CXDiagnostic_Fatal { return false }
        }
        return clang_saveTranslationUnit(unit, output, clang_defaultSaveOptions(unit)) == 0
    }

    /// The unit's top-level node.
    var root: Cursor { Cursor(raw: clang_getTranslationUnitCursor(raw)) }

    /// Errors and fatal errors the parse reported (missing headers among them).
    var errors: [Diagnostic] {
        (0..<clang_getNumDiagnostics(raw)).compactMap { i in
            let diagnostic = clang_getDiagnostic(raw, i)
            defer { clang_disposeDiagnostic(diagnostic) }
            let severity = clang_getDiagnosticSeverity(diagnostic)
            guard severity == CXDiagnostic_Error || severity == CXDiagnostic_Fatal else { return nil }
            let message = clang_getDiagnosticSpelling(diagnostic).consumed()
            return Diagnostic(
                location: SourceLocation(clang_getDiagnosticLocation(diagnostic)), message: message)
        }
    }
}

/// Calls `body` with a C `argv` built from `strings`, valid only during the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer {
        for copy in copies { free(copy) }
    }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

extension SourceLocation {
    /// The expansion location of a libclang location, or nil when it has no file.
    init?(_ location: CXSourceLocation) {
        var file: CXFile?
        var line: UInt32 = 0
        clang_getExpansionLocation(location, &file, &line, nil, nil)
        guard let file else { return nil }
        let name = clang_getFileName(file).consumed()
        guard !name.isEmpty else { return nil }
        self.init(file: name, line: Int(line))
    }
}
