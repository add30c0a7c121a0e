import Foundation
import TestSupport
import XCTest

/// Every input a fuzz target once crashed on, and every seed, replayed
/// through the plain build of its target (no libFuzzer): each must be read
/// to an error or a result, never a trap. A crash `tools/fuzz` finds is
/// committed to `Tests/Fuzz/crashes/<target>/` with its fix, and so
/// becomes a test here (docs/RELIABILITY.md).
final class FuzzReplayTests: XCTestCase {
    /// The Swift fuzz targets (`fuzz-sysfs` is C, built by tools/fuzz only).
    private static let targets = [
        "heap-pool", "redo-record", "log-records", "replica-store", "wire", "control", "sysfs-text",
        "compile-db",
    ]

    private static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    private func inputs(_ kind: String, _ target: String) -> [String] {
        let directory = Self.fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0).path }
    }

    func testEveryCrashInputAndSeedIsReadWithoutATrap() throws {
        var crashes = 0
        for target in Self.targets {
            let found = inputs("crashes", target)
            let seeds = inputs("corpus", target)
            XCTAssertFalse(seeds.isEmpty, "fuzz-\(target) has no seeds in Tests/Fuzz/corpus/\(target)")
            crashes += found.count
            let result = try CLI.run(executable: "fuzz-\(target)", found + seeds, timeout: 300)
            XCTAssertEqual(
                result.status, 0,
                "fuzz-\(target) failed on an input:\n\(String(result.stderr.suffix(2000)))")
            XCTAssertTrue(
                result.stdout.contains("ran \(found.count + seeds.count) inputs"),
                "fuzz-\(target): \(result.stdout.suffix(300))")
        }
        XCTAssertGreaterThan(crashes, 0, "the committed crash inputs were not found")
    }
}
