import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// The agent ships runs of records straight from the ring: a run must never
/// run past the ring's end.
final class RecordIndexTests: XCTestCase {
    func testARunStopsAtTheRingEndEvenWhenARecordEndsExactlyThere() throws {
        let dir = TemporaryDirectory()
        let capacity = 64 << 10
        let region = try LogRegion.create(path: dir.file("log"), capacity: capacity)
        let writer = LogWriter(region: region, policy: .fail)
        // Records of exactly 4 KiB: sixteen fill the ring to its last byte, so
        // the seventeenth starts at offset 0, contiguous as a position.
        let payload = [UInt8](repeating: 0x5A, count: 4096 - LogFormat.headerSize)
        var index = RecordIndex(region: region)
        var transaction: UInt64 = 0
        for _ in 0..<12 {
            // Five at a time, so runs hold several records and meet the ring's end.
            for _ in 0..<5 {
                transaction += 1
                try payload.withUnsafeBytes {
                    _ = try writer.append(kind: .transaction, transaction: transaction, payload: $0)
                }
            }
            index.refresh()
            // Ship everything at once, then reclaim it, so the ring keeps wrapping.
            var next = index.firstSequence
            while let run = index.run(from: next, maxBytes: 1 << 20) {
                let offset = Int(run.position % UInt64(capacity))
                XCTAssertLessThanOrEqual(
                    offset + run.bytes, capacity, "a run from \(next) crosses the ring end")
                next += UInt64(run.count)
            }
            index.drop(through: next - 1)
            region.storeReclaimPoint(.init(position: index.endPosition, sequence: next))
        }
        XCTAssertGreaterThan(index.endPosition, UInt64(2 * capacity), "the ring wrapped at least twice")
    }
}
