import ArgumentParser
import Foundation
import PMemScan

/// `pmemctl analyze`: the persistent-state types of a C application.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Find a C application's persistent-state types (block I/O buffers traced to their types).",
        discussion: """
            Parses the files with libclang, finds write, pwrite, writev, fwrite, aio_write, msync \
            and their read twins (through wrappers and function-pointer tables), follows the buffers \
            back to struct and union types, and prints each with its size, pointer offsets and \
            evidence. Missing headers are reported on stderr; the analysis goes on with what parsed.
            """)

    @Option(
        name: .customLong("compile-commands"),
        help: ArgumentHelp("A compile_commands.json to take files and flags from.", valueName: "file"))
    var compileCommands: String?

    @Option(
        name: .customShort("I", allowingJoined: true), parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Add an include directory (stubs for configure-generated headers).", valueName: "dir"))
    var includeDirectories: [String] = []

    @Option(
        name: .customShort("D", allowingJoined: true), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Define a macro.", valueName: "name[=value]"))
    var defines: [String] = []

    @Flag(help: "Print the report as JSON (the analyze contract).")
    var json = false

    @Flag(
        name: .customLong("heap-descriptors"),
        help: "Print PMemHeap type descriptors as JSON: {\"types\":[{name,size,alignment,pointer_offsets}]}.")
    var heapDescriptors = false

    @Option(
        name: .customLong("emit-c"),
        help: ArgumentHelp(
            "Also write the types as a C header: descriptors, layout checks, one registration call.",
            valueName: "file.h"))
    var emitC: String?

    @Option(
        name: .customLong("emit-c-prefix"),
        help: ArgumentHelp(
            "Prefix of the names --emit-c defines (default: from the first source file's name).",
            valueName: "name"))
    var emitCPrefix: String?

    @Flag(
        name: .customLong("include-system-types"),
        help: "Also report system-header records that reach I/O directly.")
    var includeSystemTypes = false

    // Unrecognized words are collected too: ArgumentParser does not take a joined
    // `-DNAME=VALUE` (the compiler spelling), so those are sorted out here.
    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp(
            "C source files (with --compile-commands: only these of its entries).", valueName: "file"))
    var words: [String] = []

    /// The source files among the words.
    var files: [String] { words.filter { !$0.hasPrefix("-") } }

    /// `-D` values, separate or joined.
    var allDefines: [String] { defines + words.filter { $0.hasPrefix("-D") }.map { String($0.dropFirst(2)) } }

    func validate() throws {
        if let unknown = words.first(where: { $0.hasPrefix("-") && !$0.hasPrefix("-D") }) {
            throw ValidationError("unknown option '\(unknown)'")
        }
        guard compileCommands != nil || !files.isEmpty else {
            throw ValidationError("name C source files or pass --compile-commands FILE")
        }
        guard !(json && heapDescriptors) else {
            throw ValidationError("--json and --heap-descriptors are two different outputs; pick one")
        }
        if let emitCPrefix, !CTypeHeader.isValidPrefix(emitCPrefix) {
            throw ValidationError(ScanError.badEmitPrefix(emitCPrefix).description)
        }
        if emitCPrefix != nil, emitC == nil {
            throw ValidationError("--emit-c-prefix names what --emit-c writes; pass --emit-c FILE too")
        }
        if let bad = allDefines.first(where: { $0.isEmpty || $0.hasPrefix("=") }) {
            throw ValidationError("bad -D '\(bad)': expected NAME or NAME=VALUE")
        }
    }

    func run() throws {
        try reportingFailures {
            let input = ScanInput(
                files: files, compileCommands: compileCommands, includeDirectories: includeDirectories,
                defines: allDefines, includeSystemTypes: includeSystemTypes)
            let report = try PersistenceAnalyzer(input: input).run()
            for diagnostic in report.diagnostics {
                let place = diagnostic.location.map { "\($0.file):\($0.line): " } ?? ""
                Output.error("warning: \(place)\(diagnostic.message) (analysis continues with what parsed)")
            }
            for template in report.templatesNotAnalyzed {
                Output.error(
                    "warning: \(template.location.file):\(template.location.line): template \(template.name) calls "
                        + "\(template.calls.joined(separator: ", ")); templates are not instantiated by the analysis"
                )
            }
            try report.checkConclusive()
            if let emitC { try writeHeader(report, to: emitC) }
            if json {
                try Output.json(report)
            } else if heapDescriptors {
                try Output.json(HeapDescriptorDocument(report: report))
            } else {
                printTable(report)
            }
        }
    }

    /// Writes the `--emit-c` header (whole or not at all), warning about each type it leaves out.
    private func writeHeader(_ report: ScanReport, to path: String) throws {
        let sources = files.isEmpty ? [compileCommands ?? path] : files
        let prefix = emitCPrefix ?? CTypeHeader.prefix(derivedFrom: sources.first ?? path)
        let header = try CTypeHeader(types: report.types, prefix: prefix, sources: sources)
        for skipped in header.skipped {
            Output.error("warning: --emit-c leaves out \(skipped.name): \(skipped.reason)")
        }
        do {
            try Data(header.text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ScanError.cannotWrite(path: path, reason: Self.reason(error))
        }
    }

    /// The system's words for a failed write (`Permission denied`), else Foundation's.
    private static func reason(_ error: Error) -> String {
        let error = error as NSError
        if let posix = error.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return error.localizedDescription
    }

    private func printTable(_ report: ScanReport) {
        var rows = [["type", "kind", "size", "pointer offsets", "evidence"]]
        for type in report.types {
            let name = ([type.name] + type.typedefs).joined(separator: " / ")
            let offsets =
                type.pointerOffsets.isEmpty
                ? "-" : type.pointerOffsets.map(String.init).joined(separator: ",")
            let first = type.evidence.first.map(describe) ?? "-"
            let more = type.evidence.count > 1 ? " (+\(type.evidence.count - 1) more)" : ""
            rows.append([name, type.kind, "\(type.size)", offsets, first + more])
        }
        Output.table(rows)
        print(
            "\(report.types.count) persistent types in \(report.translationUnits) files, \(report.lines) lines"
        )
    }

    private func describe(_ evidence: Evidence) -> String {
        var text = "\(evidence.file):\(evidence.line) \(evidence.access.rawValue) \(evidence.site)"
        if let file = evidence.siteFile, let line = evidence.siteLine,
            file != evidence.file || line != evidence.line
        {
            text += " at \(URL(fileURLWithPath: file).lastPathComponent):\(line)"
        }
        return text
    }
}
