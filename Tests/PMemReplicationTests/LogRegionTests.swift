import CPMemReplication
import Foundation
@_spi(Primitives) import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

final class LogRegionTests: XCTestCase {
    private func payload(_ n: Int, _ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: n) }

    func testARecordInTwoPiecesReadsBackAsOnePayload() throws {
        let dir = TemporaryDirectory()
        for persistPath: PersistPath? in [nil, .traced] {
            let region = try LogRegion.create(
                path: dir.file("log-\(persistPath == nil ? "streamed" : "traced")"), capacity: 64 << 10,
                uuid: UUID(),
                persistPath: persistPath)
            let writer = LogWriter(region: region, policy: .fail)
            var scanner = LogScanner(region: region, from: region.reclaimPoint())
            for i in 0..<400 {
                let head = payload(i % 9 * 8, UInt8(truncatingIfNeeded: i))
                let rest = payload(i % 131, UInt8(truncatingIfNeeded: i &+ 1))
                try head.withUnsafeBytes { first in
                    try rest.withUnsafeBytes { second in
                        _ = try writer.append(
                            kind: .transaction, transaction: UInt64(i), payload: first, rest: second,
                            releasing: 0,
                            fenced: true)
                    }
                }
                let record = try XCTUnwrap(scanner.next(), "record \(i)")
                XCTAssertEqual(record.header.payloadLength, head.count + rest.count)
                XCTAssertEqual(
                    Array(
                        UnsafeRawBufferPointer(
                            start: record.bytes + LogFormat.headerSize, count: head.count + rest.count)),
                    head + rest)
                region.storeReclaimPoint(.init(position: scanner.position, sequence: scanner.nextSequence))
            }
        }
    }

    func testAppendedRecordsAreReadBackInOrderAcrossTheRingEnd() throws {
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let writer = LogWriter(region: region, policy: .fail)
        var scanner = LogScanner(region: region, from: region.reclaimPoint())
        for i in 0..<300 {
            let bytes = payload(200 + i % 5 * 8, UInt8(truncatingIfNeeded: i))
            let sequence = try bytes.withUnsafeBytes {
                try writer.append(kind: .transaction, transaction: UInt64(i), payload: $0)
            }
            XCTAssertEqual(sequence, UInt64(i + 1))
            let record = try XCTUnwrap(scanner.next())
            XCTAssertEqual(record.header.sequence, UInt64(i + 1))
            XCTAssertEqual(record.header.transaction, UInt64(i))
            XCTAssertEqual(
                Array(
                    UnsafeRawBufferPointer(start: record.bytes + LogFormat.headerSize, count: bytes.count)),
                bytes)
            region.storeReclaimPoint(.init(position: scanner.position, sequence: scanner.nextSequence))
        }
        XCTAssertNil(scanner.next())
        XCTAssertGreaterThan(scanner.position, UInt64(region.capacity), "the ring wrapped")
    }

    func testAReclaimPointNoLogCanReachIsReportedDamagedWhenTheLogOpens() throws {
        // Found by fuzz-log-records: a whole reclaim slot naming sequence 0
        // made RecordIndex.lastSequence (firstSequence - 1) trap in the agent.
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        for point in [
            LogRegion.ReclaimPoint(position: 0, sequence: 0),
            LogRegion.ReclaimPoint(position: 0, sequence: .max),
            LogRegion.ReclaimPoint(position: .max - 10, sequence: 1),
        ] {
            region.storeReclaimPoint(point)
            XCTAssertThrowsError(try LogRegion.open(path: dir.file("log")), "\(point)") {
                XCTAssertEqual(($0 as? PMemError)?.kind, .corrupt)
                XCTAssertTrue("\($0)".contains("reclaim point"), "\($0)")
            }
        }
        region.storeReclaimPoint(.init(position: 3 << 16, sequence: 7))
        XCTAssertEqual(
            try LogRegion.open(path: dir.file("log")).reclaimPoint(), .init(position: 3 << 16, sequence: 7))
    }

    func testAWholeSlotWithAGenerationNoUpdateReachesIsNotCurrent() throws {
        // Found by fuzz-replica-store: a state slot whose checksum matches but whose
        // generation is 2^64 - 1 made SlotPair.update's `generation + 1` trap.
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        region.storeReclaimPoint(.init(position: 64, sequence: 2))
        region.storeReclaimPoint(.init(position: 128, sequence: 3))
        // The second update went to slot 1: make its generation impossible, keeping it whole.
        let p = region.mapping.base + LogFormat.reclaimSlotsOffset + MemoryLayout<pmr_reclaim_slot>.stride
        var slot = p.load(as: pmr_reclaim_slot.self)
        slot.generation = .max
        slot.checksum = withUnsafeBytes(of: slot) {
            Checksum.of($0.baseAddress!, 56, seed: region.salt ^ LogFormat.Seed.reclaim.rawValue ^ 1)
        }
        p.storeBytes(of: slot, as: pmr_reclaim_slot.self)
        XCTAssertEqual(region.reclaimPoint(), .init(position: 64, sequence: 2), "the other slot is current")
        region.storeReclaimPoint(.init(position: 192, sequence: 4))
        XCTAssertEqual(
            try LogRegion.open(path: dir.file("log")).reclaimPoint(), .init(position: 192, sequence: 4))
    }

    func testAReopenedWriterContinuesAfterTheLastWholeRecord() throws {
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let writer = LogWriter(region: region, policy: .fail)
        for i in 0..<5 {
            try payload(64, 1).withUnsafeBytes {
                _ = try writer.append(kind: .transaction, transaction: UInt64(i), payload: $0)
            }
        }
        let reopened = LogWriter(region: try LogRegion.open(path: dir.file("log")), policy: .fail)
        XCTAssertEqual(reopened.nextSequence, 6)
    }

    func testAPayloadThatIsNotAWholeNumberOfWordsIsNeverReadPastItsEnd() throws {
        // The payload ends right before a page no one may read: the writer
        // used to copy it rounded up to 8 bytes (found by AddressSanitizer).
        let page = Int(getpagesize())
        let pages = try XCTUnwrap(
            mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(pages, 2 * page) }
        XCTAssertEqual(mprotect(pages + page, page, PROT_NONE), 0)
        let payload = UnsafeRawBufferPointer(start: pages + page - 13, count: 13)
        (pages + page - 13).initializeMemory(as: UInt8.self, repeating: 0xab, count: 13)
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let writer = LogWriter(region: region, policy: .fail)
        _ = try writer.append(kind: .transaction, transaction: 1, payload: payload)
        var scanner = LogScanner(region: region, from: region.reclaimPoint())
        let record = try XCTUnwrap(scanner.next())
        XCTAssertEqual(record.header.payloadLength, 13)
        let stored = UnsafeRawBufferPointer(start: record.bytes + LogFormat.headerSize, count: 13)
        XCTAssertEqual(Array(stored), Array(repeating: 0xab, count: 13))
    }

    func testATornRecordEndsTheLog() throws {
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let writer = LogWriter(region: region, policy: .fail)
        for i in 0..<3 {
            try payload(100, 7).withUnsafeBytes {
                _ = try writer.append(kind: .transaction, transaction: UInt64(i), payload: $0)
            }
        }
        // Damage one payload byte of the second record.
        let second = region.ring + LogFormat.footprint(payload: 100) + LogFormat.headerSize + 10
        second.storeBytes(of: 0xff, as: UInt8.self)
        var scanner = LogScanner(region: region, from: region.reclaimPoint())
        XCTAssertEqual(scanner.next()?.header.sequence, 1)
        XCTAssertNil(scanner.next())
        XCTAssertEqual(LogWriter(region: region, policy: .fail).nextSequence, 2)
    }

    func testAFullLogFailsUnderTheFailPolicyAndNothingIsOverwritten() throws {
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let writer = LogWriter(region: region, policy: .fail)
        var appended = 0
        var failure: PMemError?
        while failure == nil {
            do {
                try payload(1000, 3).withUnsafeBytes {
                    _ = try writer.append(kind: .transaction, transaction: 1, payload: $0)
                }
                appended += 1
            } catch let error as PMemError {
                failure = error
            }
        }
        XCTAssertEqual(failure?.kind, .busy)
        XCTAssertTrue(failure?.detail.contains("the log is full") ?? false, "\(String(describing: failure))")
        var scanner = LogScanner(region: region, from: region.reclaimPoint())
        var seen = 0
        while scanner.next() != nil { seen += 1 }
        XCTAssertEqual(seen, appended, "every appended record is still whole")
        XCTAssertThrowsError(try writer.promise(1000))
    }

    func testABlockedWriterProceedsOnceTheAgentReclaims() throws {
        let dir = TemporaryDirectory()
        let region = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let writer = LogWriter(region: region, policy: .block(timeout: 60))
        let bytes = payload(1000, 9)
        while writer.usedBytes + LogFormat.footprint(payload: 1000) * 2 <= region.capacity {
            try bytes.withUnsafeBytes {
                _ = try writer.append(kind: .transaction, transaction: 1, payload: $0)
            }
        }
        let reclaimer = Thread {
            var scanner = LogScanner(region: region, from: region.reclaimPoint())
            while scanner.next() != nil {}
            region.storeReclaimPoint(.init(position: scanner.position, sequence: scanner.nextSequence))
        }
        let before = writer.nextSequence
        reclaimer.start()
        for _ in 0..<4 {
            try bytes.withUnsafeBytes {
                _ = try writer.append(kind: .transaction, transaction: 1, payload: $0)
            }
        }
        XCTAssertEqual(writer.nextSequence, before + 4)
    }

    func testARecordLargerThanHalfTheRingIsRefused() throws {
        let dir = TemporaryDirectory()
        let writer = LogWriter(
            region: try LogRegion.create(path: dir.file("log"), capacity: 64 << 10), policy: .fail)
        XCTAssertThrowsError(
            try payload(40 << 10, 1).withUnsafeBytes {
                _ = try writer.append(kind: .transaction, transaction: 1, payload: $0)
            }
        ) { XCTAssertEqual(($0 as? PMemError)?.kind, .invalidArgument) }
    }

    func testADamagedSuperblockIsReportedNotUsed() throws {
        let dir = TemporaryDirectory()
        _ = try LogRegion.create(path: dir.file("log"), capacity: 64 << 10)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: dir.file("log")))
        try handle.seek(toOffset: 20)
        handle.write(Data([0x55]))
        try handle.close()
        XCTAssertThrowsError(try LogRegion.open(path: dir.file("log"))) {
            XCTAssertEqual(($0 as? PMemError)?.kind, .corrupt)
        }
    }
}
