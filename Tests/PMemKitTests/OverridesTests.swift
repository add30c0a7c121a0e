import Foundation
import XCTest

@testable import PMemKit

/// Every PMEMKIT_* variable is parsed in one place, strictly: a typo in a
/// name or a value is an error naming what would work, never a default.
final class OverridesTests: XCTestCase {
    func testValidValuesOfEveryKindParse() throws {
        let overrides = try Overrides(environment: [
            "PMEMKIT_NO_CLWB": "1", "PMEMKIT_MOVNT_THRESHOLD": "4K", "PMEMKIT_FILE_BACKING": "file",
            "PMEMKIT_HEAP_BASE": "0x300000000000", "PMEMKIT_CRASH_AT": "17",
            "PMEMKIT_PROTECT_MECHANISM": "mprotect", "PMEMKIT_LAB_PHASE": "write", "HOME": "/root",
        ])
        XCTAssertTrue(overrides.isSet(.noCLWB))
        XCTAssertFalse(overrides.isSet(.noCLFlushOpt))
        XCTAssertEqual(overrides.byteSize(.movntThreshold), 4096)
        XCTAssertEqual(overrides.choice(.fileBacking), "file")
        XCTAssertEqual(overrides.address(.heapBase), 0x3000_0000_0000)
        XCTAssertEqual(overrides.count(.crashAt), 17)
        XCTAssertNil(overrides.values["HOME"], "other variables are not PMemKit's business")
    }

    func testAFlagTakesOnlyZeroOrOne() {
        for bad in ["yes", "true", "2", ""] {
            XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_NO_CLWB": bad])) { error in
                XCTAssertEqual(
                    (error as? PMemError)?.detail,
                    "PMEMKIT_NO_CLWB=\(bad) is not valid: use 1 (on) or 0 (off)")
            }
        }
    }

    func testABadValueNamesTheAcceptedOnes() {
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_FILE_BACKING": "disk"])) { error in
            XCTAssertEqual(
                (error as? PMemError)?.detail, "PMEMKIT_FILE_BACKING=disk is not valid: use emulated, file")
        }
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_MOVNT_THRESHOLD": "lots"]))
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_HEAP_BASE": "0xzz"]))
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_CRASH_AT": "0"]))
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_FHA_POLICY": "always"]))
    }

    func testAMistypedNameSuggestsTheVariableMeant() {
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_NO_CLWD": "1"])) { error in
            XCTAssertEqual(
                (error as? PMemError)?.detail,
                "PMEMKIT_NO_CLWD is not a PMemKit variable; did you mean PMEMKIT_NO_CLWB?")
        }
        XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_SOMETHING_ELSE_ENTIRELY": "1"])) { error in
            XCTAssertTrue(
                (error as? PMemError)?.detail.contains("is not a PMemKit variable (they are: PMEMKIT_NO_CLWB")
                    ?? false,
                "\(error)")
        }
    }

    func testInForceListsOnlyTheOverridesSet() throws {
        let overrides = try Overrides(environment: ["PMEMKIT_FORCE_EADR": "1", "PMEMKIT_REQUIRE_HW": "1"])
        XCTAssertEqual(
            overrides.inForce.map(\.name), ["PMEMKIT_FORCE_EADR"], "harness switches are not overrides")
        XCTAssertEqual(overrides.inForce.first?.module, "PMemKit")
    }

    func testEveryVariableIsDeclaredOnce() {
        let names = OverrideVariable.all.map(\.name)
        XCTAssertEqual(names.count, Set(names).count)
        XCTAssertTrue(names.allSatisfy { $0.hasPrefix("PMEMKIT_") })
    }

    func testTheCatalogueMatchesThePolicies() {
        XCTAssertEqual(
            OverrideVariable.fileBacking.kind, .choice(PMemMapping.PlainFilePolicy.allCases.map(\.rawValue)))
        XCTAssertEqual(
            OverrideVariable.guestFlush.kind,
            .choice(FlushInstruction.allCases.filter { $0 != .none }.map(\.rawValue)))
    }

    func testTheDocsListEveryVariable() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/OVERRIDES.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for variable in OverrideVariable.all {
            let short = "_" + variable.name.dropFirst("PMEMKIT_".count)
            XCTAssertTrue(
                text.contains("`\(variable.name)`") || text.contains("`\(short)`"),
                "docs/OVERRIDES.md does not list \(variable.name)")
        }
    }

    func testEditDistance() {
        XCTAssertEqual(Overrides.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(Overrides.editDistance("", "abc"), 3)
        XCTAssertEqual(Overrides.editDistance("abc", ""), 3)
        XCTAssertEqual(Overrides.editDistance("same", "same"), 0)
    }
}
