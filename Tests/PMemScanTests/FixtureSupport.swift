import Foundation
import PMemScan
import XCTest

/// The fixture corpus: small C programs written for these tests, next to this file.
enum Fixtures {
    /// The folder holding the `.c` fixtures.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// The absolute path of a fixture file.
    static func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    /// Analyzes fixtures with optional extra flags.
    static func analyze(
        _ names: [String], includeDirectories: [String] = [], defines: [String] = []
    ) throws -> ScanReport {
        let input = ScanInput(
            files: names.map(path), includeDirectories: includeDirectories, defines: defines)
        return try PersistenceAnalyzer(input: input).run()
    }

    /// The reported type names of one fixture.
    static func typeNames(_ name: String) throws -> Set<String> {
        Set(try analyze([name]).types.map(\.name))
    }
}

extension ScanReport {
    /// The reported type with this name (record or typedef spelling).
    func type(named name: String) -> AnalyzedType? {
        types.first { $0.names.contains(name) }
    }
}
