import Foundation
import PMemProtect
import TestSupport
import XCTest

/// `pmemctl protect info`: the mechanism chosen here and why, as a table or JSON.
final class ProtectCommandTests: XCTestCase {
    private func info(_ arguments: [String] = [], environment: [String: String] = [:]) throws -> [String: Any]
    {
        let r = try CLI.run(["protect", "info", "--json"] + arguments, environment: environment)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
    }

    func testInfoNamesTheChoiceAndEveryMechanism() throws {
        let object = try info()
        XCTAssertEqual(object["requested"] as? String, "auto")
        XCTAssertEqual(
            object["mechanism"] as? String,
            MechanismSupport.current.all.first { $0.available }?.mechanism.rawValue)
        XCTAssertFalse((object["reason"] as? String ?? "").isEmpty)
        let mechanisms = object["mechanisms"] as? [[String: Any]] ?? []
        XCTAssertEqual(mechanisms.map { $0["mechanism"] as? String }, ["pkeys", "userfaultfd", "mprotect"])
        XCTAssertTrue(mechanisms.allSatisfy { $0["available"] is Bool && $0["reason"] is String })
    }

    func testTheEnvironmentOverridesTheChoiceOrFailsWithOneLine() throws {
        let key = ProtectionMechanism.environmentKey
        XCTAssertEqual(try info(environment: [key: "mprotect"])["mechanism"] as? String, "mprotect")
        assertUsageError(
            try CLI.run(["protect", "info"], environment: [key: "mmap"]), mentions: "auto, pkeys")
    }

    func testAPathShowsTheMechanismItsMemoryGets() throws {
        let dir = TemporaryDirectory()
        let file = dir.path + "/pool"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(count: 1 << 16)))
        let path =
            try info(["--path", file], environment: [ProtectionMechanism.environmentKey: "mprotect"])["path"]
            as? [String: Any]
        XCTAssertEqual(path?["mechanism"] as? String, "mprotect")
        XCTAssertEqual(path?["path"] as? String, file)
        assertFailure(try CLI.run(["protect", "info", "--path", dir.path + "/missing"]), mentions: "missing")
    }
}
