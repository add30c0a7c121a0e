import Foundation
@_spi(Primitives) import PMemKit
import XCTest

@testable import PMemHeap

/// Store reordering (pmreorder's idea, at cache-line granularity): a
/// workload runs on the recording persist path (`PersistPath.traced`), which
/// logs every line each flush writes back, every line changed between
/// fences, and every fence. Before each fence, a crash image is what earlier
/// fences made durable plus any subset of the lines written or flushed since
/// (any of them may or may not have reached memory). Recovery of every image
/// tried must give a committed prefix of the workload: every transaction
/// whose commit returned before the crash, perhaps the one in flight, and
/// nothing torn; and the checker must find the pool healthy.
///
/// `CrashImages` (PMemKit) builds the images and says what the model leaves
/// out. The normal run tries every fence of 48 transactions with 4
/// images each; `PMEMKIT_CRASH_LONG=N` runs N times as many transactions and
/// images.
final class StoreReorderingTests: XCTestCase {
    /// The workload: transaction k pushes node k on a list, except every
    /// fourth, which pops (and frees) the head; the stack after each.
    private struct Workload {
        let transactions: Int
        var states: [[Int64]] = [[]]

        init(transactions: Int) {
            self.transactions = transactions
            var stack: [Int64] = []
            for k in 1...transactions {
                if k % 4 == 0 { stack.removeFirst() } else { stack.insert(Int64(k), at: 0) }
                states.append(stack)
            }
        }

        func run(_ heap: PersistentHeap, mark: (Int) -> Void) throws {
            let root = try heap.root(ListRoot.self)
            let nodes = try heap.register(Node.self)
            for k in 1...transactions {
                try heap.transaction { tx in
                    let head = tx.read(root.field(\.head))
                    let count = tx.read(root.field(\.count))
                    if k % 4 == 0 {
                        try tx.write(head.pointee.next, to: root.field(\.head))
                        try tx.write(count - 1, to: root.field(\.count))
                        try tx.free(head)
                    } else {
                        let node = try tx.allocate(nodes, Node(value: Int64(k), next: head))
                        try tx.write(node, to: root.field(\.head))
                        try tx.write(count + 1, to: root.field(\.count))
                    }
                }
                mark(k)
            }
        }
    }

    func testEveryCrashImageOfTransactionsRecoversToACommittedPrefix() throws {
        let scale = CrashHarness.scale
        let workload = Workload(transactions: 48 * scale)
        let dir = "/dev/shm/pmemkit-reorder-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/pool"

        // A small pool with small lanes, so lanes wrap and the checkpoint moves during the run.
        var create = HeapCreateOptions(slabSize: 4096, logSize: 64 << 10)
        create.persistPath = .traced
        let heap = try PersistentHeap.create(path: path, size: 1 << 20, options: create)
        _ = try buildList(heap, [])
        try heap.close()
        var open = HeapOpenOptions(placement: .recorded)
        open.persistPath = .traced
        let traced = try PersistentHeap.open(path: path, options: open)
        let size = traced.geometry.poolSize
        let initial = Array(UnsafeRawBufferPointer(start: traced.base, count: size))
        try PersistenceTrace.begin(traced.base, length: size)
        try workload.run(traced) { PersistenceTrace.mark(UInt64($0)) }
        let events = try PersistenceTrace.events()
        PersistenceTrace.end()
        try traced.close()

        var random = SystemRandomNumberGenerator()
        var images = CrashImages(randomSubsets: 2 * scale)
        let checker = ImageChecker(path: dir + "/image", workload: workload)
        var violations: [String] = []
        try images.replay(events, initial: initial, random: &random) { image in
            if let problem = try checker.recover(image.bytes, returned: Int(image.lastMark)) {
                violations.append("\(image.description): \(problem)")
            }
            return violations.count <= 5
        }
        print(
            "store reordering: \(images.fences) fences, \(images.imagesTried) crash images tried, "
                + "\(violations.count) violations")
        XCTAssertGreaterThan(images.fences, workload.transactions, "every commit fences at least once")
        XCTAssertEqual(violations, [], "every crash image recovers to a committed prefix")
    }

    /// Recovers crash images of the workload and checks them.
    private struct ImageChecker {
        let path: String
        let workload: Workload

        /// Recovers `image`; a description of what is wrong, or nil.
        func recover(_ image: [UInt8], returned: Int) throws -> String? {
            guard FileManager.default.createFile(atPath: path, contents: Data(image)) else {
                return "cannot write the image to \(path)"
            }
            let heap: PersistentHeap
            do {
                heap = try PersistentHeap.open(path: path, options: HeapOpenOptions(placement: .recorded))
            } catch {
                return "open failed: \(error)"
            }
            let values: [Int64]
            do {
                values = try listValues(heap)
                let count = try heap.root(ListRoot.self).pointee.count
                guard count == Int64(values.count) else {
                    return
                        "count \(count) but \(values.count) nodes (\(heap.openReport.replayedTransactions) replayed)"
                }
            } catch {
                return "reading the list: \(error)"
            }
            try heap.close()
            let allowed = returned...min(returned + 1, workload.transactions)
            guard allowed.contains(where: { workload.states[$0] == values }) else {
                return "list \(values.prefix(8))… is not the state after transaction \(allowed)"
            }
            let report = try HeapChecker.check(path: path)
            guard report.healthy else { return "check: \(report.problems.prefix(2))" }
            return nil
        }
    }
}
