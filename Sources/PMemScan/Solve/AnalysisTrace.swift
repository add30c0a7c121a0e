import Foundation

/// Opt-in explanations for whoever tunes the analysis; no contract, stderr only.
///
/// `PMEMSCAN_TRACE=text`: each time a root whose description contains `text`
/// enters a place, the place and the flow that brought it.
/// `PMEMSCAN_EXPLAIN=text`: for a few sites, the path from the site's buffer to a
/// reported record whose description contains `text` (why a type was reported).
enum AnalysisTrace {
    /// The root filter of `PMEMSCAN_TRACE`, when set.
    static let rootFilter = ProcessInfo.processInfo.environment["PMEMSCAN_TRACE"]
    /// The target filter of `PMEMSCAN_EXPLAIN`, when set.
    static let explainFilter = ProcessInfo.processInfo.environment["PMEMSCAN_EXPLAIN"]

    /// Writes one line to stderr.
    static func emit(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
