import CPmemobj
import Foundation
import PMemHeap
import PMemKit

/// `heap`: PMemHeap against libpmemobj on the same backing, in one run.
///
/// Both pools are files in /dev/shm (DRAM standing in for PMem) with CPU
/// flushes on both sides (`PMEM_IS_PMEM_FORCE=1` for libpmem). Lists and
/// trees are built with the same shuffled orders in both, so each walk
/// follows the same path; the chase and lookup cases also walk a copy of our
/// layout in anonymous DRAM (4 KiB pages, like the pool), alternating with
/// our walk (`dram_ns`, `paired_ours_ns`, `ours_vs_dram`).
struct HeapSuite: BenchSuite {
    static let name = "heap"
    static let summary =
        "alloc, pointer chasing, transactions and open vs libpmemobj (pmemobj_alloc, PMEMoid, pmemobj_tx)"

    let quick: Bool
    let backing: String
    let heap: PersistentHeap
    let baseline: PmemobjPool
    let directory: String
    let bigCount: Int
    let threadCounts: [Int]

    init(options: BenchOptions) throws {
        quick = options.quick
        directory = options.path ?? "/dev/shm"
        bigCount = quick ? 1 << 16 : 1 << 20
        threadCounts = options.threads
        let poolSize = quick ? 64 << 20 : 256 << 20
        let ours = "\(directory)/pmem-bench-heap.\(getpid())"
        unlink(ours)
        heap = try PersistentHeap.create(path: ours, size: poolSize)
        unlink(ours)
        baseline = try PmemobjPool(path: "\(directory)/pmem-bench-pmemobj.\(getpid())", size: 2 * poolSize)
        unlink(baseline.path)
        let flush = heap.backing.map { "\($0.rawValue)" } ?? "?"
        backing =
            "\(flush) (file in \(directory)\(directory == "/dev/shm" ? ": DRAM standing in for PMem" : "")), "
            + "libpmemobj with PMEM_IS_PMEM_FORCE=1 on the same file system"
    }

    /// The cases; `PMEMKIT_BENCH_CASES=alloc,tx` (prefixes) builds and runs only those, for profiling.
    func cases() throws -> [BenchCase] {
        let only = Overrides.currentOrDefaults.text(.benchCases)?.split(separator: ",").map(String.init)
        func wanted(_ prefix: String) -> Bool { only?.contains { prefix.hasPrefix($0) } ?? true }
        var out: [BenchCase] = []
        if wanted("alloc") { out += try allocationCases() }
        if wanted("alloc-reach") || wanted("trace") {
            out += try reachabilityCases(allocation: wanted("alloc-reach"), trace: wanted("trace"))
        }
        if wanted("chase") { out += try chaseCases() }
        if wanted("lookup") { out.append(try lookupCase()) }
        if wanted("tx") { out += try transactionCases() }
        if wanted("open") { out += try openCases() }
        if only?.contains("probe") == true { out += try probeCases() }
        for threads in threadCounts { out += try threadCases(threads: threads, wanted: wanted) }
        return out
    }

    /// The size of the large structures in case names: `1M`, or `64K` with `--quick`.
    private var bigLabel: String { bigCount >= 1 << 20 ? "\(bigCount >> 20)M" : "\(bigCount >> 10)K" }

    // MARK: Allocation

    private func allocationCases() throws -> [BenchCase] {
        let units = quick ? 2_000 : 20_000
        return [
            allocationCase("alloc-64B", heap, try heap.register(Object64.self), size: 64, units: units),
            allocationCase("alloc-256B", heap, try heap.register(Object256.self), size: 256, units: units),
        ]
    }

    /// `heap.allocate` + `heap.free` of `handle`'s type, against `pmemobj_zalloc` + `pmemobj_free` of `size` bytes.
    func allocationCase<T>(
        _ name: String, _ heap: PersistentHeap, _ handle: TypeHandle<T>, size: Int, units: Int
    )
        -> BenchCase
    {
        BenchCase(
            name: name, unitCount: units,
            ours: {
                try timed {
                    for _ in 0..<units { try heap.free(try heap.allocate(handle)) }
                }
            },
            baselineName: "pmemobj_zalloc + pmemobj_free",
            baseline: { [baseline] in
                try timed {
                    for _ in 0..<units {
                        var oid = try baseline.zalloc(size)
                        pmemobj_free(&oid)
                    }
                }
            })
    }

    // MARK: Pointer chasing

    private func chaseCases() throws -> [BenchCase] {
        var generator = SplitMixGenerator(seed: 42)
        var out: [BenchCase] = []
        for (name, count) in [("chase-list-16K", 16 << 10), ("chase-list-\(bigLabel)", bigCount)] {
            let order = Array(0..<count).shuffled(using: &generator)
            let head = try BenchStructures.buildList(heap, order: order).address
            let oidHead = try BenchStructures.buildList(baseline, order: order)
            guard walkList(head) == walkOidList(oidHead) else {
                throw BenchError("\(name): the two lists differ")
            }
            let dram = dramList(head: head, count: count)
            out.append(
                BenchCase(
                    name: name, unitCount: count,
                    ours: { timed { benchSink &+= walkList(head) } },
                    baselineName: "PMEMoid + pmemobj_direct",
                    baseline: { timed { benchSink &+= walkOidList(oidHead) } },
                    extra: { _, _ in
                        let (oursNs, dramNs) = pairedMedians(runs: 15, units: count) {
                            benchSink &+= walkList(head)
                        } _: {
                            benchSink &+= walkList(dram.head)
                        }
                        return ["paired_ours_ns": oursNs, "dram_ns": dramNs, "ours_vs_dram": oursNs / dramNs]
                    }))
        }
        return out
    }

    /// The list copied into anonymous DRAM with the same layout, pointers moved into the copy.
    private func dramList(head: UnsafeMutablePointer<ListNode>?, count: Int) -> (
        head: UnsafeMutablePointer<ListNode>?, copy: BenchStructures.DRAMCopy
    ) {
        let copy = BenchStructures.DRAMCopy(of: heap.base, count: heap.geometry.poolSize)
        var node = copy.translate(head)
        while let n = node {
            n.pointee.next = PersistentPointer(copy.translate(n.pointee.next.address))
            node = n.pointee.next.address
        }
        return (copy.translate(head), copy)
    }

    // MARK: Tree lookups

    private func lookupCase() throws -> BenchCase {
        var generator = SplitMixGenerator(seed: 7)
        let keys = Array(0..<Int64(bigCount)).shuffled(using: &generator)
        let root = try BenchStructures.buildTree(heap, keys: keys).address
        let oidRoot = try BenchStructures.buildTree(baseline, keys: keys)
        let lookups = quick ? 5_000 : 20_000
        let probes = UnsafeMutableBufferPointer<Int64>.allocate(capacity: lookups)
        for i in 0..<lookups { probes[i] = keys[Int(generator.next() % UInt64(keys.count))] }
        let wanted = UnsafeBufferPointer(probes)
        guard lookupTree(root, wanted) == lookups, lookupOidTree(oidRoot, wanted) == lookups else {
            throw BenchError("lookup-tree: a key was not found")
        }
        let copy = BenchStructures.DRAMCopy(of: heap.base, count: heap.geometry.poolSize)
        var stack = [copy.translate(root)]
        while let top = stack.popLast() {
            guard let n = top else { continue }
            n.pointee.left = PersistentPointer(copy.translate(n.pointee.left.address))
            n.pointee.right = PersistentPointer(copy.translate(n.pointee.right.address))
            stack += [n.pointee.left.address, n.pointee.right.address]
        }
        let dramRoot = copy.translate(root)
        return BenchCase(
            name: "lookup-tree-\(bigLabel)", unitCount: lookups,
            ours: { timed { benchSink &+= Int64(lookupTree(root, wanted)) } },
            baselineName: "PMEMoid + pmemobj_direct",
            baseline: { timed { benchSink &+= Int64(lookupOidTree(oidRoot, wanted)) } },
            extra: { _, _ in
                let (oursNs, dramNs) = withExtendedLifetime(copy) {
                    pairedMedians(runs: 15, units: lookups) {
                        benchSink &+= Int64(lookupTree(root, wanted))
                    } _: {
                        benchSink &+= Int64(lookupTree(dramRoot, wanted))
                    }
                }
                return ["paired_ours_ns": oursNs, "dram_ns": dramNs, "ours_vs_dram": oursNs / dramNs]
            })
    }

    // MARK: Transactions

    private func transactionCases() throws -> [BenchCase] {
        let units = quick ? 1_000 : 10_000
        let objects = try heap.register(Object64.self)
        let ours = try (0..<8).map { _ in try heap.allocate(objects) }
        let theirs = try (0..<8).map { _ in try baseline.zalloc(64) }
        let pool = baseline.pool
        return [1, 2, 4, 8].map { stores in
            BenchCase(
                name: "tx-\(stores)", unitCount: units,
                ours: { [heap] in
                    try timed {
                        for i in 0..<units {
                            try heap.transaction { tx in
                                for k in 0..<stores { try tx.write(Int64(i), to: ours[k].field(\.words.0)) }
                            }
                        }
                    }
                },
                baselineName: "pmemobj_tx + pmemobj_tx_add_range",
                baseline: {
                    try timed {
                        for i in 0..<units {
                            try pmemobjTransaction(pool, storing: Int64(i), into: theirs, count: stores)
                        }
                    }
                })
        }
    }

    /// Overhead probes, only on request (`PMEMKIT_BENCH_CASES=probe`):
    /// allocations then frees timed apart, an empty transaction, a transaction that only reads.
    private func probeCases() throws -> [BenchCase] {
        let units = 10_000
        let objects = try heap.register(Object64.self)
        let target = try heap.allocate(objects)
        let pointers = UnsafeMutableBufferPointer<PersistentPointer<Object64>>.allocate(capacity: units)
        return [
            BenchCase(
                name: "probe-alloc-then-free", unitCount: units,
                ours: { [heap] in
                    let a = try timed { for i in 0..<units { pointers[i] = try heap.allocate(objects) } }
                    let f = try timed { for i in 0..<units { try heap.free(pointers[i]) } }
                    let line = "    alloc \(a / UInt64(units)) ns, free \(f / UInt64(units)) ns\n"
                    FileHandle.standardError.write(Data(line.utf8))
                    return a + f
                }),
            BenchCase(
                name: "probe-empty-tx", unitCount: units,
                ours: { [heap] in try timed { for _ in 0..<units { try heap.transaction { _ in } } } }),
            BenchCase(
                name: "probe-tx-read", unitCount: units,
                ours: { [heap] in
                    try timed {
                        for _ in 0..<units {
                            try heap.transaction { benchSink &+= $0.read(target.field(\.words.0)) }
                        }
                    }
                }),
        ]
    }

    // MARK: Open

    private func openCases() throws -> [BenchCase] {
        let size = quick ? 64 << 20 : 256 << 20
        let ours = "\(directory)/pmem-bench-heap-open.\(getpid())"
        unlink(ours)
        var generator = SplitMixGenerator(seed: 3)
        let order = Array(0..<bigCount).shuffled(using: &generator)
        do {
            // Closed and released here, so the recorded base is free again for the open cases.
            let built = try PersistentHeap.create(path: ours, size: size)
            _ = try BenchStructures.buildList(built, order: order)
            try built.close()
        }
        let opener = HeapOpener(path: ours)
        _ = try opener.open(HeapOpenOptions(placement: .recorded), expectRelocation: false)
        let theirs = try PmemobjPool(path: "\(directory)/pmem-bench-pmemobj-open.\(getpid())", size: size)
        _ = try BenchStructures.buildList(theirs, order: order)
        let cleanup = Cleanup(paths: [ours, theirs.path])

        var out = [
            BenchCase(
                name: "open-same-base", unitCount: 1,
                ours: { try opener.open(HeapOpenOptions(placement: .recorded), expectRelocation: false) },
                baselineName: "pmemobj_open",
                baseline: { try withExtendedLifetime(cleanup) { try theirs.reopen() } })
        ]
        for threads in [1, 2] {
            out.append(
                BenchCase(
                    name: "open-relocate-\(threads)core\(threads > 1 ? "s" : "")", unitCount: bigCount,
                    ours: {
                        try opener.open(
                            HeapOpenOptions(placement: .differentFromRecorded, relocationThreads: threads),
                            expectRelocation: true)
                    },
                    baselineName: nil, baseline: nil,
                    extra: { oursNs, _ in
                        guard let stats = opener.lastRelocation else { return [:] }
                        let openSeconds = oursNs * Double(bigCount) / 1e9
                        return [
                            "pointers_moved": Double(stats.moved),
                            "pointers_per_s_open": Double(stats.moved) / openSeconds,
                            "scan_GBps": Double(stats.bytesScanned) / stats.seconds / 1e9,
                            "scan_GBps_per_core": Double(stats.bytesScanned) / stats.seconds / 1e9
                                / Double(threads),
                            "open_GBps": Double(stats.bytesScanned) / openSeconds / 1e9,
                        ]
                    }))
        }
        return out
    }
}

/// Opens and closes our open-case pool, timing the open only.
///
/// Between runs the pool's range is held by an inaccessible placeholder, as
/// an application keeps its pool's range: otherwise the baseline's
/// `pmemobj_open` may be mapped there meanwhile, and our "same base" open
/// would have to relocate.
final class HeapOpener {
    let path: String
    private(set) var lastRelocation: RelocationStats?
    private var placeholder: (UnsafeMutableRawPointer, Int)?

    init(path: String) { self.path = path }

    deinit { releasePlaceholder() }

    func open(_ options: HeapOpenOptions, expectRelocation: Bool) throws -> UInt64 {
        releasePlaceholder()
        let (elapsed, range) = try openAndClose(options, expectRelocation: expectRelocation)
        hold(range)
        return elapsed
    }

    /// Times an open, then closes; the heap is gone (unmapped) when this returns.
    private func openAndClose(_ options: HeapOpenOptions, expectRelocation: Bool) throws -> (
        UInt64, (UnsafeMutableRawPointer, Int)
    ) {
        let start = nowNs()
        let heap = try PersistentHeap.open(path: path, options: options)
        let elapsed = nowNs() - start
        guard heap.openReport.relocated == expectRelocation else {
            throw BenchError(
                "open of \(path): relocated=\(heap.openReport.relocated), expected \(expectRelocation)")
        }
        lastRelocation = heap.openReport.relocation ?? lastRelocation
        try heap.close()
        return (elapsed, (heap.base, heap.geometry.poolSize))
    }

    /// Maps an inaccessible placeholder over the (now unmapped) pool range.
    private func hold(_ range: (UnsafeMutableRawPointer, Int)) {
        let fixedNoReplace: Int32 = 0x100000
        let p = mmap(
            range.0, range.1, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | fixedNoReplace, -1, 0)
        if let p, p != MAP_FAILED { placeholder = (p, range.1) }
    }

    private func releasePlaceholder() {
        if let (p, size) = placeholder { munmap(p, size) }
        placeholder = nil
    }
}

/// Removes the open cases' files when the suite is done with them.
final class Cleanup {
    let paths: [String]
    init(paths: [String]) { self.paths = paths }
    deinit { for path in paths { unlink(path) } }
}

/// Medians per unit of `ours` and `dram` run alternately, so both see the
/// same cache and TLB state (the comparison with the same walk in plain DRAM).
func pairedMedians(runs: Int, units: Int, _ ours: () -> Void, _ dram: () -> Void) -> (Double, Double) {
    var a: [Double] = []
    var b: [Double] = []
    for round in 0..<runs {
        if round % 2 == 0 {
            a.append(Double(timed(ours)))
            b.append(Double(timed(dram)))
        } else {
            b.append(Double(timed(dram)))
            a.append(Double(timed(ours)))
        }
    }
    return (median(a) / Double(units), median(b) / Double(units))
}

/// A seeded generator, so both sides and every run get the same orders.
struct SplitMixGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// One `pmemobj_tx` storing `value` into the first word of `count` of `targets`
/// (each added with `pmemobj_tx_add_range`): the transaction cases' baseline.
func pmemobjTransaction(_ pool: OpaquePointer, storing value: Int64, into targets: [PMEMoid], count: Int)
    throws
{
    guard cpmemobj_tx_begin(pool) == 0 else { throw BenchError("pmemobj_tx_begin failed") }
    for k in 0..<count {
        guard pmemobj_tx_add_range(targets[k], 0, 8) == 0 else {
            throw BenchError("pmemobj_tx_add_range failed")
        }
        targets[k].direct!.storeBytes(of: value, as: Int64.self)
    }
    pmemobj_tx_commit()
    _ = pmemobj_tx_end()
}
