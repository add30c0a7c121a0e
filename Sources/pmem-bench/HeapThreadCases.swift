import CPmemobj
import Dispatch
import Foundation
import PMemHeap

/// `pmem-bench heap --threads N`: allocation and transactions on N threads at
/// once, against libpmemobj on N threads in the same pool. Each thread works
/// on its own objects; a case's time is the wall time of all of them, and its
/// units are every thread's operations added up (ns per operation of the
/// whole machine, so a speedup compares throughputs).
extension HeapSuite {
    func threadCases(threads: Int, wanted: (String) -> Bool) throws -> [BenchCase] {
        var out: [BenchCase] = []
        if wanted("alloc") { out += try threadedAllocationCases(threads) }
        if wanted("tx") { out += try threadedTransactionCases(threads) }
        return out
    }

    /// Runs `body(thread)` on `threads` threads at once; returns the wall time.
    private func together(_ threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws -> UInt64 {
        let failure = FailureBox()
        let elapsed = timed {
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                do { try body(thread) } catch { failure.record(error) }
            }
        }
        if let error = failure.first { throw error }
        return elapsed
    }

    /// `alloc-64B-t<N>` (transactional allocate + free) and `alloc-reach-64B-t<N>`
    /// (a reachability pool's, persisting nothing), against `pmemobj_zalloc` + `pmemobj_free`.
    private func threadedAllocationCases(_ threads: Int) throws -> [BenchCase] {
        let perThread = quick ? 2_000 : 20_000
        let path = "\(directory)/pmem-bench-heap-threads.\(getpid())"
        unlink(path)
        let reach = try PersistentHeap.create(
            path: path, size: 64 << 20, options: HeapCreateOptions(recovery: .reachability))
        unlink(path)
        let logged = heap
        let loggedObjects = try logged.register(Object64.self)
        let reachObjects = try reach.register(Object64.self)
        let pool = UnsafeTransfer(baseline.pool)
        let baselineRun: () throws -> UInt64 = {
            try together(threads) { _ in
                for _ in 0..<perThread {
                    var oid = PMEMoid()
                    guard pmemobj_zalloc(pool.value, &oid, 64, 0) == 0 else {
                        throw BenchError("pmemobj_zalloc failed")
                    }
                    pmemobj_free(&oid)
                }
            }
        }
        return [
            BenchCase(
                name: "alloc-64B-t\(threads)", unitCount: perThread * threads,
                ours: {
                    try together(threads) { _ in
                        for _ in 0..<perThread { try logged.free(try logged.allocate(loggedObjects)) }
                    }
                },
                baselineName: "pmemobj_zalloc + pmemobj_free, \(threads) threads", baseline: baselineRun),
            BenchCase(
                name: "alloc-reach-64B-t\(threads)", unitCount: perThread * threads,
                ours: {
                    try together(threads) { _ in
                        for _ in 0..<perThread { try reach.free(try reach.allocate(reachObjects)) }
                    }
                },
                baselineName: "pmemobj_zalloc + pmemobj_free, \(threads) threads", baseline: baselineRun),
        ]
    }

    /// `tx-1-t<N>`, `tx-4-t<N>`: transactions of 1 and 4 eight-byte stores, each
    /// thread into its own objects, against `pmemobj_tx` with `pmemobj_tx_add_range`.
    private func threadedTransactionCases(_ threads: Int) throws -> [BenchCase] {
        let perThread = quick ? 1_000 : 10_000
        let objects = try heap.register(Object64.self)
        let ours = try (0..<threads).map { _ in try (0..<4).map { _ in try heap.allocate(objects) } }
        let theirs = try (0..<threads).map { _ in try (0..<4).map { _ in try baseline.zalloc(64) } }
        let txHeap = heap
        let pool = UnsafeTransfer(baseline.pool)
        let mine = UnsafeTransfer(ours)
        let oids = UnsafeTransfer(theirs)
        return [1, 4].map { stores in
            BenchCase(
                name: "tx-\(stores)-t\(threads)", unitCount: perThread * threads,
                ours: {
                    try together(threads) { thread in
                        let targets = mine.value[thread]
                        for i in 0..<perThread {
                            try txHeap.transaction { tx in
                                for k in 0..<stores {
                                    try tx.write(Int64(i), to: targets[k].field(\.words.0))
                                }
                            }
                        }
                    }
                },
                baselineName: "pmemobj_tx + pmemobj_tx_add_range, \(threads) threads",
                baseline: {
                    try together(threads) { thread in
                        let targets = oids.value[thread]
                        for i in 0..<perThread {
                            try pmemobjTransaction(
                                pool.value, storing: Int64(i), into: targets, count: stores)
                        }
                    }
                })
        }
    }
}

/// A value handed to worker threads that the case keeps alive.
private struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The first error any worker thread threw.
private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var first: Error?

    func record(_ error: Error) {
        lock.withLock { if first == nil { first = error } }
    }
}
