import XCTest

@testable import PMemReplication

/// A back-pressure policy comes from text (the environment, the CLI) or
/// from the API: no value of either may trap when the writer waits.
final class BackPressurePolicyTests: XCTestCase {
    func testTextOutsideZeroToADayIsRefused() {
        XCTAssertEqual(BackPressurePolicy("block:2.5"), .block(timeout: 2.5))
        XCTAssertEqual(BackPressurePolicy("fail"), .fail)
        for text in ["block:1e300", "block:inf", "block:nan", "block:-1", "block:86401", "block:", "wait"] {
            XCTAssertNil(BackPressurePolicy(text), text)
        }
    }

    func testAnyTimeoutGivenThroughTheAPIWaitsAtMostADay() {
        // Before: UInt64(1e300 * 1e9) trapped as the writer started to wait.
        let day = UInt64(BackPressurePolicy.maximumTimeout * 1e9)
        for timeout in [1e300, .infinity, .nan, 86_401] {
            XCTAssertEqual(BackPressurePolicy.block(timeout: timeout).timeoutNanoseconds, day, "\(timeout)")
        }
        XCTAssertEqual(BackPressurePolicy.block(timeout: -5).timeoutNanoseconds, 0)
        XCTAssertEqual(BackPressurePolicy.block(timeout: 1.5).timeoutNanoseconds, 1_500_000_000)
    }
}
