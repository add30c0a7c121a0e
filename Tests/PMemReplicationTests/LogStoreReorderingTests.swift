import Foundation
@_spi(Primitives) import PMemKit
import XCTest

@testable import PMemReplication

/// Store reordering for the replication log, as `StoreReorderingTests` does
/// for the heap: the writer appends on the recording persist path (a
/// streamed record's lines are durable at the next fence, in any order
/// before it), the agent's reclaim point moves so the ring wraps, and every
/// crash image `CrashImages` builds must recover: the log opens, its
/// records from the reclaim point are whole, numbered without a gap, hold
/// every record whose append returned and at most the one in flight, and a
/// writer opened on it appends after them.
///
/// The normal run appends 300 records (the 64 KiB ring wraps about four
/// times) with 4 images per fence; `PMEMKIT_CRASH_LONG=N` appends N times as
/// many with 2N random images per fence.
final class LogStoreReorderingTests: XCTestCase {
    /// The payload of record `sequence`: its length varies (8 bytes to about
    /// 1.5 KiB, not always a multiple of 8) and every byte depends on the sequence.
    static func payload(_ sequence: UInt64) -> [UInt8] {
        let count = 8 + Int(sequence * 97 % 1500)
        return (0..<count).map { UInt8(truncatingIfNeeded: Int(sequence) &* 31 &+ $0 &* 7) }
    }

    func testEveryCrashImageOfAppendsRecoversToTheAppendedPrefix() throws {
        let scale = max(1, ProcessInfo.processInfo.environment["PMEMKIT_CRASH_LONG"].flatMap { Int($0) } ?? 1)
        let records = 300 * scale
        let dir = "/dev/shm/pmemkit-log-reorder-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let region = try LogRegion.create(
            path: dir + "/log", capacity: LogFormat.minimumCapacity, uuid: UUID(), persistPath: .traced)
        let writer = LogWriter(region: region, policy: .fail)
        let size = region.mapping.size
        let initial = Array(UnsafeRawBufferPointer(start: region.mapping.base, count: size))
        try PersistenceTrace.begin(region.mapping.base, length: size)
        var positions: [UInt64: UInt64] = [:]  // sequence -> position, for the reclaim points
        for _ in 0..<records {
            let sequence = writer.nextSequence
            // The agent's part: keep about a quarter of the ring, reclaiming the rest.
            if sequence > 8, writer.usedBytes > region.capacity / 4, let position = positions[sequence - 8] {
                region.storeReclaimPoint(.init(position: position, sequence: sequence - 8))
            }
            let payload = Self.payload(sequence)
            try payload.withUnsafeBytes {
                _ = try writer.append(kind: .transaction, transaction: sequence, payload: $0)
            }
            var scanner = LogScanner(region: region, from: region.reclaimPoint())
            while let found = scanner.next() { positions[found.header.sequence] = found.header.position }
            PersistenceTrace.mark(sequence)
        }
        let events = try PersistenceTrace.events()
        PersistenceTrace.end()

        var random = SystemRandomNumberGenerator()
        var images = CrashImages(randomSubsets: 2 * scale)
        var violations: [String] = []
        try images.replay(events, initial: initial, random: &random) { image in
            if let problem = try recover(image.bytes, path: dir + "/image", returned: image.lastMark) {
                violations.append("\(image.description): \(problem)")
            }
            return violations.count <= 5
        }
        print(
            "log store reordering: \(records) appends, \(images.fences) fences, "
                + "\(images.imagesTried) crash images tried, \(violations.count) violations")
        XCTAssertGreaterThanOrEqual(images.fences, records, "every append fences at least once")
        XCTAssertEqual(violations, [], "every crash image recovers to the appended prefix")
    }

    /// Opens the log in `bytes` and checks its records; a description of what is wrong, or nil.
    private func recover(_ bytes: [UInt8], path: String, returned: UInt64) throws -> String? {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            return "cannot write the image to \(path)"
        }
        let region: LogRegion
        do { region = try LogRegion.open(path: path) } catch { return "open failed: \(error)" }
        let point = region.reclaimPoint()
        guard point.sequence <= returned + 1 else {
            return "reclaim point at sequence \(point.sequence), past the \(returned) appended"
        }
        var scanner = LogScanner(region: region, from: point)
        var last = point.sequence - 1
        while let found = scanner.next() {
            let header = found.header
            guard header.sequence == last + 1 else { return "record \(header.sequence) after \(last)" }
            let expected = Self.payload(header.sequence)
            let held = UnsafeRawBufferPointer(
                start: found.bytes + LogFormat.headerSize, count: header.payloadLength)
            guard header.transaction == header.sequence, held.elementsEqual(expected) else {
                return "record \(header.sequence) is not what was appended"
            }
            last = header.sequence
        }
        guard last >= returned else { return "records end at \(last), but append \(returned) had returned" }
        guard last <= returned + 1 else { return "records reach \(last), past the one in flight" }
        // The writer resumes after them, and what it appends is found.
        let writer = LogWriter(region: region, policy: .fail)
        guard writer.nextSequence == last + 1 else {
            return "a writer resumes at \(writer.nextSequence), not \(last + 1)"
        }
        let next = Self.payload(last + 1)
        try next.withUnsafeBytes {
            _ = try writer.append(kind: .transaction, transaction: last + 1, payload: $0)
        }
        var again = LogScanner(region: region, from: point)
        var count: UInt64 = 0
        while again.next() != nil { count += 1 }
        guard count == last + 2 - point.sequence else {
            return "after one more append, \(count) records are found"
        }
        return nil
    }
}
