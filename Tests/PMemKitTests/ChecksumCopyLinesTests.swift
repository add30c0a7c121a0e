import Foundation
@_spi(Primitives) import PMemKit
import TestSupport
import XCTest

/// `Checksum.copyLines`, the log append's one pass: what it stores and the
/// checksum it returns must be exactly what a separate copy and
/// `Checksum.of` over the concatenated payload give, for any split.
final class ChecksumCopyLinesTests: XCTestCase {
    func testEverySplitStoresTheHeadThePayloadAndZerosToTheLineEnd() {
        var random = SplitMix64(state: 7)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { destination.deallocate() }
        for streaming in [false, true] {
            for headLength in [8, 40, 48, 56] {
                for total in [0, 1, 7, 8, 9, 15, 16, 17, 56, 63, 64, 65, 100, 127, 128, 129, 600, 1000] {
                    let payload = (0..<total).map { _ in UInt8.random(in: 0...255, using: &random) }
                    let head = (0..<headLength).map { _ in UInt8.random(in: 1...255, using: &random) }
                    let seed = random.next()
                    let sealAt = headLength - 8
                    // Splits at every word boundary (the first piece whole words), and none.
                    for split in Array(stride(from: 0, through: total, by: 8)) + [total] {
                        memset(destination, 0xee, 4096)
                        let sum = head.withUnsafeBytes { headBytes in
                            payload.withUnsafeBytes { all in
                                Checksum.copyLines(
                                    to: destination, head: headBytes, sealAt: sealAt,
                                    UnsafeRawBufferPointer(rebasing: all[..<split]),
                                    UnsafeRawBufferPointer(rebasing: all[split...]), seed: seed,
                                    streaming: streaming)
                            }
                        }
                        let expected = payload.withUnsafeBytes {
                            Checksum.of($0.baseAddress ?? UnsafeRawPointer(destination), total, seed: seed)
                        }
                        let what =
                            "head \(headLength), payload \(total) split at \(split), streaming \(streaming)"
                        XCTAssertEqual(sum, expected, what)
                        let footprint = (headLength + total + 63) & ~63
                        let stored = Array(UnsafeRawBufferPointer(start: destination, count: 4096))
                        var sealed = head
                        withUnsafeBytes(of: sum) { sealed.replaceSubrange(sealAt..<headLength, with: $0) }
                        XCTAssertEqual(Array(stored[..<headLength]), sealed, what)
                        XCTAssertEqual(Array(stored[headLength..<headLength + total]), payload, what)
                        XCTAssertTrue(stored[(headLength + total)..<footprint].allSatisfy { $0 == 0 }, what)
                        XCTAssertTrue(stored[footprint...].allSatisfy { $0 == 0xee }, what)
                    }
                }
            }
        }
    }
}
