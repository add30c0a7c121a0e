import XCTest

@testable import PMemKit

final class ByteSizeTests: XCTestCase {
    func testParsesBinaryUnits() throws {
        XCTAssertEqual(try ByteSize.parse("4096"), 4096)
        XCTAssertEqual(try ByteSize.parse("4K"), 4096)
        XCTAssertEqual(try ByteSize.parse("256m"), 256 << 20)
        XCTAssertEqual(try ByteSize.parse("1G"), 1 << 30)
        XCTAssertEqual(try ByteSize.parse("1GiB"), 1 << 30)
        XCTAssertEqual(try ByteSize.parse("2TB"), 2 << 40)
        XCTAssertEqual(try ByteSize.parse("12B"), 12)
    }

    func testRejectsTextThatIsNotASize() {
        for bad in ["", "G", "1.5G", "-1", "12Q", "1 G B"] {
            XCTAssertThrowsError(try ByteSize.parse(bad), bad) { error in
                XCTAssertTrue("\(error)".contains("is not a size"), "\(error)")
            }
        }
    }

    func testRejectsOverflow() {
        XCTAssertThrowsError(try ByteSize.parse("99999999999T"))
    }

    func testRejectsSizesAnIntCannotHold() {
        // Each fits a UInt64 but not an Int: every caller would trap converting it.
        for bad in ["9223372036854775808", "8388608T", "18446744073709551615"] {
            XCTAssertThrowsError(try ByteSize.parse(bad), bad) { error in
                XCTAssertTrue("\(error)".contains("is too large"), "\(error)")
            }
        }
        XCTAssertEqual(try ByteSize.parse("9223372036854775807"), UInt64(Int.max))
    }

    func testFormatsInTheLargestExactUnit() {
        XCTAssertEqual(ByteSize.format(2 << 30), "2G")
        XCTAssertEqual(ByteSize.format(16 << 20), "16M")
        XCTAssertEqual(ByteSize.format(4096), "4K")
        XCTAssertEqual(ByteSize.format(1000), "1000")
        XCTAssertEqual(ByteSize.format((3 << 20) + 1), "3.0M")
    }
}
