import Foundation
import PMemKit
import PMemProtect
import XCTest

/// The behaviour every mechanism shares, run by each mechanism's test class
/// under its gate. With pkeys a key covers a whole range and rights are per
/// thread, which the expectations below spell out where it matters.
struct Scenarios {
    let mechanism: ProtectionMechanism
    private let page = Pages.size

    init(_ mechanism: ProtectionMechanism) throws {
        try ProtectGate.require(mechanism)
        self.mechanism = mechanism
    }

    func protect(
        _ pages: Pages, _ access: PageAccess, _ action: FaultAction, label: String = "test",
        objects: ObjectLayout? = nil
    ) throws -> ProtectedRange {
        try PageProtector.shared().protect(
            pages.base, length: pages.length, access: access, onFault: action, label: label, objects: objects,
            mechanism: mechanism, owner: pages)
    }

    func countTakesOneFaultPerPageAndLetsEveryWriteThrough() throws {
        let pages = Pages(4)
        let range = try protect(pages, .read, .count)
        XCTAssertEqual(range.mechanism, mechanism)
        for i in 0..<4 {
            pages.page(i).storeBytes(of: UInt64(i + 1), as: UInt64.self)
            pages.page(i).storeBytes(of: UInt64(i + 100), toByteOffset: 8, as: UInt64.self)
        }
        // pkeys: the first fault gives the faulting thread the range's key.
        XCTAssertEqual(range.faults, mechanism == .pkeys ? 1 : 4)
        for i in 0..<4 {
            XCTAssertEqual(pages.page(i).load(as: UInt64.self), UInt64(i + 1))
            XCTAssertEqual(pages.page(i).load(fromByteOffset: 8, as: UInt64.self), UInt64(i + 100))
        }
    }

    func readsOfAReadOnlyRangeDoNotFault() throws {
        let pages = Pages(2)
        pages.page(1).storeBytes(of: UInt64(42), as: UInt64.self)
        let range = try protect(pages, .read, .deny)
        XCTAssertEqual(pages.page(1).load(as: UInt64.self), 42)
        XCTAssertEqual(pages.page(0).load(as: UInt64.self), 0)
        XCTAssertEqual(range.faults, 0)
        XCTAssertEqual(range.access, .read)
    }

    func noneAccessFaultsOnReads() throws {
        let pages = Pages(2)
        pages.page(0).storeBytes(of: UInt64(7), as: UInt64.self)
        let range = try protect(pages, .none, .count)
        XCTAssertEqual(pages.page(0).load(as: UInt64.self), 7)
        XCTAssertEqual(range.faults, 1)
    }

    func allowLiftsTheWholeRangeOnTheFirstFault() throws {
        let pages = Pages(3)
        let range = try protect(pages, .read, .allow)
        for i in 0..<3 { pages.page(i).storeBytes(of: UInt64(i + 1), as: UInt64.self) }
        XCTAssertEqual(range.faults, 1)
        XCTAssertEqual((0..<3).map { pages.page($0).load(as: UInt64.self) }, [1, 2, 3])
        if mechanism != .pkeys {  // pkeys: only the faulting thread was granted
            XCTAssertEqual(range.access, .readWrite)
        }
    }

    func aSwiftHandlerRunsOncePerFaultOnItsOwnThreadWithTheFaultDetails() throws {
        let pages = Pages(4)
        let log = HandlerLog()
        let range = try protect(
            pages, .read,
            .handled { fault, _ in
                log.record(fault)
                return .allow
            }, label: "slab", objects: ObjectLayout(name: "Account", size: 64))
        let target = pages.page(2) + 72
        target.storeBytes(of: UInt64(0xfeed), as: UInt64.self)
        pages.page(3).storeBytes(of: UInt64(1), as: UInt64.self)

        XCTAssertEqual(target.load(as: UInt64.self), 0xfeed)
        XCTAssertEqual(range.faults, 1)
        let faults = log.faults
        XCTAssertEqual(faults.count, 1)
        guard let fault = faults.first else { return }
        XCTAssertTrue(fault.isWrite)
        XCTAssertEqual(fault.address, UInt(bitPattern: target))
        XCTAssertEqual(fault.offset, 2 * page + 72)
        XCTAssertEqual(fault.label, "slab")
        XCTAssertEqual(fault.mechanism, mechanism)
        XCTAssertEqual(fault.object, ObjectHit(name: "Account", index: (2 * page + 72) / 64, offset: 8))
        XCTAssertEqual(fault.threadID, currentThreadID())
        XCTAssertFalse(
            log.handlerThreads.contains(currentThreadID()), "the handler ran on the faulting thread")
    }

    func aHandlerIsCalledAgainForEachRetriedFault() throws {
        let pages = Pages(1)
        let calls = Counter()
        let range = try protect(
            pages, .read,
            .handled { _, _ in
                // The first answer leaves the page protected: the write faults once more.
                calls.increment() == 1 ? .retry : .allow
            })
        pages.base.storeBytes(of: UInt64(5), as: UInt64.self)
        XCTAssertEqual(calls.value, 2)
        XCTAssertEqual(range.faults, 2)
        XCTAssertEqual(pages.base.load(as: UInt64.self), 5)
    }

    func aHandlerThatChangesTheAccessItselfRetries() throws {
        let pages = Pages(2)
        let calls = Counter()
        let range = try protect(
            pages, .none,
            .handled { _, range in
                calls.increment()
                try? range.setAccess(.readWrite)
                return .retry
            })
        pages.page(1).storeBytes(of: UInt64(9), as: UInt64.self)
        XCTAssertEqual(pages.page(0).load(as: UInt64.self), 0)
        XCTAssertEqual(calls.value, 1)
        XCTAssertEqual(range.faults, 1)
        XCTAssertEqual(range.access, .readWrite)
    }

    func aHandlerCanLiftJustThePageThatFaulted() throws {
        let pages = Pages(4)
        let size = page
        let log = HandlerLog()
        let range = try protect(
            pages, .read,
            .handled { fault, range in
                log.record(fault)
                try? range.setAccess(.readWrite, offset: fault.offset / size * size, length: size)
                return .retry
            })
        for i in 0..<4 { pages.page(i).storeBytes(of: UInt64(i), toByteOffset: 16, as: UInt64.self) }
        for i in 0..<4 { pages.page(i).storeBytes(of: UInt64(i + 1), toByteOffset: 24, as: UInt64.self) }
        XCTAssertEqual(log.faults.map(\.offset), (0..<4).map { $0 * size + 16 })
        XCTAssertEqual(range.faults, 4)
        XCTAssertEqual(range.access, .read, "the whole range's setting stays")
        XCTAssertEqual(
            (0..<4).map { pages.page($0).load(fromByteOffset: 24, as: UInt64.self) }, [1, 2, 3, 4])
    }

    func concurrentFaultingThreadsEachGetTheirDecision() throws {
        let threads = 4
        let rounds = 25
        let pages = (0..<threads).map { _ in Pages(1) }
        let log = HandlerLog()
        let ranges = try pages.enumerated().map { i, p in
            try protect(
                p, .read,
                .handled { fault, _ in
                    log.record(fault)
                    return .allow
                }, label: "thread \(i)")
        }
        let failures = Counter()
        concurrently(threads) { i in
            for round in 1...rounds {
                // pkeys: setAccess sets this thread's rights, which is the thread that writes.
                if (try? ranges[i].setAccess(.read)) == nil { failures.increment() }
                pages[i].base.storeBytes(of: UInt64(round), as: UInt64.self)
            }
        }
        XCTAssertEqual(failures.value, 0)
        XCTAssertEqual(log.faults.count, threads * rounds)
        for i in 0..<threads {
            XCTAssertEqual(ranges[i].faults, UInt64(rounds), "range \(i)")
            XCTAssertEqual(log.faults.filter { $0.label == "thread \(i)" }.count, rounds)
            XCTAssertEqual(pages[i].base.load(as: UInt64.self), UInt64(rounds))
        }
    }

    func aPMemMappingCanBeProtected(in directory: String = "/dev/shm") throws {
        let mapping = try scratchMapping(in: directory, bytes: 4 * page)
        let range = try PageProtector.shared().protect(
            mapping, access: .read, onFault: .count, mechanism: mechanism)
        mapping.pointer(at: page).storeBytes(of: UInt64(3), as: UInt64.self)
        XCTAssertEqual(range.faults, 1)
        XCTAssertEqual(mapping.pointer(at: page).load(as: UInt64.self), 3)
        XCTAssertEqual(range.label, mapping.path)
    }

    func unprotectMakesTheRangeReadWriteAgain() throws {
        let pages = Pages(1)
        let range = try protect(pages, .none, .deny)
        range.unprotect()
        pages.base.storeBytes(of: UInt64(1), as: UInt64.self)
        XCTAssertEqual(pages.base.load(as: UInt64.self), 1)
        XCTAssertEqual(range.access, .readWrite)
        XCTAssertThrowsError(try range.setAccess(.read))
    }
}

/// A counter shared with a handler.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    /// Adds one; returns the new value.
    @discardableResult
    func increment() -> Int {
        lock.withLock {
            count += 1
            return count
        }
    }

    var value: Int { lock.withLock { count } }
}
