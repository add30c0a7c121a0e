import Foundation
import XCTest

@_spi(CrashPoints) @testable import PMemKit

/// `PMEMKIT_CRASH_AT` takes `N` or `PREFIX:N`; a prefix counts only the
/// points whose label starts with it. (The kill itself is exercised by the
/// crash campaign, in child processes: CrashTests, CrashCampaignTests.)
final class CrashPlanTests: XCTestCase {
    func testANumberAloneCountsEveryPoint() throws {
        let plan = try XCTUnwrap(CrashPlan(crashAt: "17"))
        XCTAssertEqual(plan, CrashPlan(prefix: "", target: 17))
        XCTAssertTrue(plan.counts("heap.tx.committed"))
        XCTAssertTrue(plan.counts("replica.apply.state"))
    }

    func testAPrefixCountsOnlyItsLabels() throws {
        let plan = try XCTUnwrap(CrashPlan(crashAt: "replica.apply.:3"))
        XCTAssertEqual(plan.prefix, "replica.apply.")
        XCTAssertEqual(plan.target, 3)
        XCTAssertTrue(plan.counts("replica.apply.journaled"))
        XCTAssertFalse(plan.counts("replica.promote.chunk"))
        XCTAssertFalse(plan.counts("replica."), "a label shorter than the prefix")
        XCTAssertFalse(plan.counts("log.append.written"))
    }

    func testMalformedValuesAreRefusedByTheOverrides() {
        for bad in ["0", "-1", "x", "replica.:", ":5", "replica.:0", "1.5", "replica:٣"] {
            XCTAssertNil(CrashPlan(crashAt: bad), bad)
            XCTAssertThrowsError(try Overrides(environment: ["PMEMKIT_CRASH_AT": bad]), bad)
        }
        XCTAssertNoThrow(try Overrides(environment: ["PMEMKIT_CRASH_AT": "agent.ship.:12"]))
    }

    func testOnlyAPlanWithATargetOrALogIsArmed() {
        XCTAssertFalse(CrashPlan().armed)
        XCTAssertTrue(CrashPlan(log: true).armed, "counting mode")
        XCTAssertTrue(CrashPlan(target: 1).armed)
    }

    func testPointsAreOffInAProcessWithoutTheVariables() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["PMEMKIT_CRASH_AT"] == nil, environment["PMEMKIT_CRASH_LOG"] == nil else {
            throw XCTSkip("the test process itself has crash points set")
        }
        CrashPoints.reach("test.point")
        CrashPoints.reach("test.point")
        XCTAssertEqual(CrashPoints.reached, 0, "nothing counted when off")
        XCTAssertFalse(CrashPoints.plan.armed)
    }
}
