import Foundation
import PMemScan

/// `analyze`: how fast PMemScan reads C, in lines per second, with the parse of
/// system headers timed on its own (a large, fixed cost per translation unit).
///
/// Runs on a generated corpus (see `AnalyzeCorpus`), with `--path DIR` on the
/// `.c` files of a real source tree, or with `--path compile_commands.json` on a
/// compilation database (`tools/analyze-large`). No baseline: nothing else does
/// this analysis.
struct AnalyzeSuite: BenchSuite {
    static let name = "analyze"
    static let summary = "PMemScan lines analyzed per second; system-header parse time reported separately"

    let input: ScanInput
    let lines: Int
    let backing: String
    /// Removes the generated corpus when the suite goes away.
    private let corpus: TemporaryDirectory?

    init(options: BenchOptions) throws {
        if let path = options.path, path.hasSuffix(".json") {
            // A compilation database: its files with their flags (tools/analyze-large).
            input = ScanInput(compileCommands: path)
            corpus = nil
            backing = "compilation database \(path), libclang \(ClangVersion.current)"
        } else if let path = options.path {
            let root = URL(fileURLWithPath: path)
            let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
            let files = (enumerator?.compactMap { ($0 as? URL)?.path }.filter { $0.hasSuffix(".c") } ?? [])
                .sorted()
            guard !files.isEmpty else { throw ScanError.noInput }
            input = ScanInput(files: files)
            corpus = nil
            backing = "C sources under \(path)"
        } else {
            let directory = TemporaryDirectory(name: "pmem-bench-analyze-\(getpid())")
            let files = try AnalyzeCorpus.write(modules: options.quick ? 8 : 40, into: directory.url)
            input = ScanInput(files: files)
            corpus = directory
            backing =
                "generated C corpus (\(files.count) files), libclang \(ClangVersion.current), "
                + "\(PersistenceAnalyzer.defaultThreads) threads"
        }
        lines = try PersistenceAnalyzer(input: input).run().lines
    }

    func cases() throws -> [BenchCase] {
        let analyzer = PersistenceAnalyzer(input: input)
        let lineCount = lines
        let units = try analyzer.parseSystemHeadersOnly()
        // Each round also parses the system headers alone, right after the full
        // analysis and in the same state, so the two medians are comparable.
        let headerSamples = Samples()
        return [
            BenchCase(
                name: "analyze-lines", unitCount: lineCount,
                ours: {
                    let elapsed = try timed { _ = try analyzer.run() }
                    headerSamples.values.append(
                        Double(try timed { _ = try analyzer.parseSystemHeadersOnly() }))
                    return elapsed
                },
                baselineName: nil, baseline: nil,
                extra: { oursNs, _ in
                    let total = oursNs * Double(lineCount)
                    let headerOnly = median(headerSamples.values)
                    var extra = ["lines_per_s": 1e9 / oursNs, "system_header_share": headerOnly / total]
                    // Left out when the headers alone took as long as everything (noise wins).
                    if total > headerOnly {
                        extra["lines_per_s_without_system_headers"] =
                            Double(lineCount) * 1e9 / (total - headerOnly)
                    }
                    return extra
                }),
            BenchCase(
                name: "parse-system-headers", unitCount: units,
                ours: { try timed { _ = try analyzer.parseSystemHeadersOnly() } },
                baselineName: nil, baseline: nil,
                extra: { oursNs, _ in ["ms_per_translation_unit": oursNs / 1e6] }),
        ]
    }

    /// A directory deleted with its last reference.
    final class TemporaryDirectory {
        let url: URL

        init(name: String) {
            url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        }

        deinit { try? FileManager.default.removeItem(at: url) }
    }

    /// Timings gathered alongside a case's own.
    final class Samples {
        var values: [Double] = []
    }
}
