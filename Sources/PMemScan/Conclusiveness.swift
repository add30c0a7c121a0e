extension ScanReport {
    /// Throws when an empty result says more about the analysis than about the program:
    /// no persistent types, while some unit did not parse cleanly (a C++ file parsed as C,
    /// a missing header that declares everything) or the block I/O sits in C++ templates
    /// the analysis does not instantiate. An empty report is only a finding when
    /// everything parsed and was followed.
    public func checkConclusive() throws(ScanError) {
        guard types.isEmpty else { return }
        if let first = diagnostics.first {
            let place = first.location.map { "\($0.file):\($0.line): " } ?? ""
            throw .inconclusive(
                "no persistent types found, and the sources did not parse cleanly (\(diagnostics.count) "
                    + "error\(diagnostics.count == 1 ? "" : "s"), the first: \(place)\(first.message)); "
                    + "check the flags (-I, -D, --compile-commands) and the language")
        }
        if let first = templatesNotAnalyzed.first {
            throw .inconclusive(
                "no persistent types found; the block I/O is in C++ templates, which the analysis does not "
                    + "instantiate (\(first.name) at \(first.location.file):\(first.location.line) calls "
                    + "\(first.calls.joined(separator: ", ")))")
        }
    }
}
