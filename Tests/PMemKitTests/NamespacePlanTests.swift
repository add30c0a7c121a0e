import XCTest

@testable import PMemKit

/// Namespace requests are validated against the region before anything is
/// written, with errors that name the problem and the value that would work.
final class NamespacePlanTests: XCTestCase {
    let mib: UInt64 = 1 << 20

    func region(labeled: Bool = true, available: UInt64 = 1008 << 20, ways: Int = 1) -> Region {
        Region(
            name: "region0", size: 1 << 30, availableSize: available, maxAvailableExtent: available,
            interleaveWays: ways, align: 16 << 20, resource: 0x1_4000_0000, labeled: labeled,
            fsdaxAlignments: [4096, 2 << 20, 1 << 30], devdaxAlignments: [4096, 2 << 20, 1 << 30])
    }

    func assertInvalid(
        _ request: NamespaceRequest, in region: Region, mentions text: String, line: UInt = #line
    ) {
        XCTAssertThrowsError(try NamespacePlan.make(for: request, in: region, pageSize: 4096), line: line) {
            error in
            XCTAssertEqual((error as? PMemError)?.kind, .invalidArgument, line: line)
            XCTAssertTrue("\(error)".contains(text), "\(error)", line: line)
        }
    }

    func testDefaultsTakeTheLargestExtentWithHugePageAlignment() throws {
        let plan = try NamespacePlan.make(for: .init(mode: .devdax), in: region(), pageSize: 4096)
        XCTAssertEqual(plan.align, 2 * mib)
        XCTAssertEqual(plan.size, 1008 * mib)
    }

    func testDefaultSizeIsRoundedDownToTheAlignment() throws {
        let plan = try NamespacePlan.make(
            for: .init(mode: .fsdax), in: region(available: 1008 * mib + 12345), pageSize: 4096)
        XCTAssertEqual(plan.size, 1008 * mib)
    }

    func testRawUsesPagesAndNoAlignment() throws {
        let plan = try NamespacePlan.make(
            for: .init(mode: .raw, size: 16 * mib), in: region(), pageSize: 4096)
        XCTAssertEqual(plan.align, 0)
        XCTAssertEqual(plan.size, 16 * mib)
    }

    func testMisalignedSizeSuggestsTheNextGoodOne() {
        assertInvalid(.init(mode: .devdax, size: 33 * mib), in: region(), mentions: "did you mean 34M")
    }

    func testSizeMustRespectTheRegionAlignment() {
        assertInvalid(.init(mode: .devdax, size: 18 * mib), in: region(), mentions: "region alignment 16M")
    }

    func testInterleaveWaysMultiplyTheUnit() {
        assertInvalid(.init(mode: .devdax, size: 34 * mib), in: region(ways: 4), mentions: "× 4 ways")
    }

    func testDaxModesNeedAtLeast16MiB() {
        var r = region()
        r.align = nil
        assertInvalid(.init(mode: .fsdax, size: 8 * mib), in: r, mentions: "at least 16M")
    }

    func testTooLargeIsRefusedWithTheFreeExtent() {
        assertInvalid(
            .init(mode: .devdax, size: 2048 * mib), in: region(), mentions: "largest free extent 1008M")
    }

    func testFullRegionHasNoCapacity() {
        assertInvalid(.init(mode: .devdax), in: region(available: 0), mentions: "no free capacity")
    }

    func testUnsupportedAlignmentListsTheSupportedOnes() {
        assertInvalid(
            .init(mode: .devdax, size: 64 * mib, align: 64 << 10), in: region(), mentions: "4K, 2M, 1G")
    }

    func testNonPowerOfTwoAlignment() {
        assertInvalid(
            .init(mode: .fsdax, size: 64 * mib, align: 3 * mib), in: region(), mentions: "power of two")
    }

    func testSectorModeIsNotOffered() {
        assertInvalid(.init(mode: .sector), in: region(), mentions: "not supported")
    }

    func testReadOnlyAndDisabledRegionsAreRefused() {
        var r = region()
        r.readonly = true
        assertInvalid(.init(mode: .raw), in: r, mentions: "read-only")
        r.readonly = false
        r.enabled = false
        assertInvalid(.init(mode: .raw), in: r, mentions: "disabled")
    }

    func testMisalignedRegionStartFallsBackToPages() throws {
        var r = region()
        r.resource = 0x1_4000_1000
        r.align = nil
        let plan = try NamespacePlan.make(for: .init(mode: .devdax, size: 64 * mib), in: r, pageSize: 4096)
        XCTAssertEqual(plan.align, 4096)
    }

    func testSizesAndAlignmentsNearTheTopOfTheRangeAreRefusedNotTrapped() {
        // The rounded-up suggestion of a size just below 2^64 does not fit 64 bits.
        assertInvalid(.init(mode: .fsdax, size: .max), in: region(), mentions: "not a multiple of 2M")
        // A power-of-two alignment of 2^63 times 4 ways does not fit 64 bits either.
        var r = region(ways: 4)
        r.fsdaxAlignments = []
        assertInvalid(
            .init(mode: .fsdax, size: 64 * mib, align: 1 << 63), in: r,
            mentions: "alignment 9223372036854775808 × 4 ways is too large")
    }
}
