import NIOCore
import XCTest

@testable import PMemReplication

/// Frames encoded and decoded by MessageCodec.
final class MessageCodecTests: XCTestCase {
    func testALongRejectReasonIsCutAtACharacterBoundaryNotATrap() throws {
        // Found by fuzz-wire: a reason over 4096 bytes whose 4096th byte fell
        // inside a character made `String(reason.utf8.prefix(4096))!` trap.
        let reason = String(repeating: "a", count: 4095) + "é and more"
        var frame = MessageCodec.encode(.reject(reason), allocator: ByteBufferAllocator())
        XCTAssertEqual(try MessageCodec.decode(&frame), .reject(String(repeating: "a", count: 4095)))
        let repaired = String(repeating: "\u{FFFD}", count: 2000)
        var long = MessageCodec.encode(.reject(repaired), allocator: ByteBufferAllocator())
        guard case .reject(let text) = try MessageCodec.decode(&long) else { return XCTFail("not a reject") }
        XCTAssertEqual(text, String(repeating: "\u{FFFD}", count: 1365), "4095 bytes: whole characters only")
    }
}
