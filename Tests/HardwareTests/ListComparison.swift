import Foundation
import XCTest

/// Compares `pmemctl list --json` with ndctl's and cxl-cli's own listings of the
/// same machine state: a key both print must hold the same value.
enum ListComparison {
    /// The JSON a shell command prints on stdout (its stderr dropped).
    static func json(_ shell: String) throws -> Any {
        let output = try runTool("/bin/sh", ["-c", shell + " 2>/dev/null"])
        return try JSONSerialization.jsonObject(with: Data(output.utf8))
    }

    /// Objects by the value of their `key` (`dev` for ndctl, `memdev` for cxl-cli).
    static func byDev(_ objects: [[String: Any]]?, key: String = "dev") -> [String: [String: Any]] {
        Dictionary(
            (objects ?? []).compactMap { o in (o[key] as? String).map { ($0, o) } },
            uniquingKeysWith: { a, _ in a })
    }

    /// Checks every key in `keys` that the other tool's object has; returns how many were compared.
    @discardableResult
    static func compare(
        _ what: String, ndctl theirs: [String: Any], ours: [String: Any], keys: [String],
        file: StaticString = #filePath, line: UInt = #line
    ) -> Int {
        var compared = 0
        for key in keys {
            guard let value = theirs[key] else { continue }
            compared += 1
            let mine = ours[key]
            XCTAssertTrue(
                same(value, mine), "\(what): \(key) is \(value) there but \(mine ?? "absent") in pmemctl",
                file: file, line: line)
        }
        return compared
    }

    /// Equal as JSON values: numbers by value, objects on the other tool's keys.
    static func same(_ a: Any, _ b: Any?) -> Bool {
        guard let b else { return false }
        switch (a, b) {
        case (let x as NSNumber, let y as NSNumber): return x.doubleValue == y.doubleValue
        case (let x as String, let y as String): return x == y
        case (let x as [Any], let y as [Any]):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (let x as [String: Any], let y as [String: Any]):
            return x.allSatisfy { key, value in same(value, y[key]) }
        default: return false
        }
    }
}
