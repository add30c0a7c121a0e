import CPMemShim
import TestSupport
import XCTest

/// The region's `deep_flush` sysfs attribute has three answers, kept apart:
/// writable and 1 (flush hints), read-only and 0 (not needed), absent.
final class DeepFlushAttributeTests: XCTestCase {
    let dir = TemporaryDirectory()

    func attribute(_ content: String, mode: mode_t) -> String {
        let path = dir.makeFile("deep_flush", size: 0)
        try? content.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    func testWritableOneIsSupported() {
        XCTAssertEqual(pmk_deep_flush_state_at(attribute("1\n", mode: 0o644)), PMK_DEEP_FLUSH_SUPPORTED)
    }

    func testReadOnlyZeroIsNotNeeded() {
        XCTAssertEqual(pmk_deep_flush_state_at(attribute("0\n", mode: 0o444)), PMK_DEEP_FLUSH_NOT_NEEDED)
    }

    func testAbsentIsUnavailable() {
        XCTAssertEqual(pmk_deep_flush_state_at(dir.file("nothing")), PMK_DEEP_FLUSH_UNAVAILABLE)
    }

    func testReadOnlyOneCannotBeFlushedSoIsNotSupported() {
        XCTAssertEqual(pmk_deep_flush_state_at(attribute("1\n", mode: 0o444)), PMK_DEEP_FLUSH_NOT_NEEDED)
    }
}
