import Foundation
import PMemKit
import PMemVirt
import TestSupport
import XCTest

/// The built-in guest programs and loading images by name or path.
final class GuestImageTests: XCTestCase {
    func testBuiltinsDecodeAndNameTheirEntryPoints() {
        for image in GuestImage.builtins {
            XCTAssertFalse(image.bytes.isEmpty, image.name)
            XCTAssertEqual(image.symbols["_start"], 0, image.name)
            XCTAssertNotNil(image.symbols["guest_main"], image.name)
            XCTAssertLessThanOrEqual(UInt64(image.bytes.count), GuestLayout.imageLimit)
        }
        XCTAssertEqual(GuestImage.clwb.address(of: "clwb_site").map { $0 > GuestLayout.imageAddress }, true)
    }

    func testResolveFindsBuiltinsByNameAndLoadsFiles() throws {
        XCTAssertEqual(try GuestImage.resolve("flush"), GuestImage.flush)
        let path = "/tmp/pmemvirt-image-\(getpid()).bin"
        defer { unlink(path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([0xf4])))
        let image = try GuestImage.resolve(path)
        XCTAssertEqual(image.bytes, [0xf4])
        XCTAssertEqual(image.name, "pmemvirt-image-\(getpid())")
    }

    func testResolveRefusesWhatIsNeitherABuiltinNorAFile() {
        XCTAssertThrowsError(try GuestImage.resolve("no-such-guest")) { error in
            XCTAssertEqual((error as? PMemError)?.kind, .notFound)
            XCTAssertTrue("\(error)".contains("flush"), "\(error)")
        }
    }

    func testResolveRefusesSpecialFilesInsteadOfReadingThem() {
        let dir = TemporaryDirectory()
        for (path, kind) in [(dir.makeFIFO("guest.bin"), "a FIFO"), ("/dev/zero", "a character device")] {
            XCTAssertThrowsError(try GuestImage.resolve(path)) { error in
                XCTAssertTrue("\(error)".contains("\(path) is \(kind), not a regular file"), "\(error)")
            }
        }
    }
}
