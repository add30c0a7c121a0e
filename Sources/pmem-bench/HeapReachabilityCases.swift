import CPmemobj
import Foundation
import PMemHeap

/// The cases of a reachability pool (`AllocationRecovery.reachability`):
/// allocation and free that persist nothing, against libpmemobj's, and the
/// trace an open after a crash runs, against the slab scan of a relocation.
extension HeapSuite {
    func reachabilityCases(allocation: Bool, trace: Bool) throws -> [BenchCase] {
        let path = "\(directory)/pmem-bench-heap-reach.\(getpid())"
        unlink(path)
        let reach = try PersistentHeap.create(
            path: path, size: quick ? 128 << 20 : 512 << 20,
            options: HeapCreateOptions(recovery: .reachability))
        unlink(path)
        return try (allocation ? reachabilityAllocationCases(reach) : []) + (trace ? traceCases(reach) : [])
    }

    /// `alloc-reach-64B`, `alloc-reach-256B`: `allocate` + `free` outside a
    /// transaction (zeroed, nothing logged, written back or fenced).
    private func reachabilityAllocationCases(_ reach: PersistentHeap) throws -> [BenchCase] {
        let units = quick ? 20_000 : 200_000
        return [
            allocationCase(
                "alloc-reach-64B", reach, try reach.register(Object64.self), size: 64, units: units),
            allocationCase(
                "alloc-reach-256B", reach, try reach.register(Object256.self), size: 256, units: units),
        ]
    }

    /// `trace-tree-<n>`, `trace-list-<n>`, `trace-list-sequential-<n>`,
    /// `trace-tree64-<n>`: the open-time trace on one thread of
    /// a random binary tree (24-byte nodes, or 64 bytes, each node's children far apart in
    /// memory) and of a shuffled list (one miss after another), against the
    /// relocation's slab scan of the same pool. Extra: live bytes traced per
    /// second per thread, and the trace on every core.
    private func traceCases(_ reach: PersistentHeap) throws -> [BenchCase] {
        var generator = SplitMixGenerator(seed: 7)
        let keys = (0..<Int64(bigCount)).shuffled(using: &generator)
        let tree = try BenchStructures.buildTree(reach, keys: keys)
        let roots = try reach.register(TraceRoot.self)
        let order = Array(0..<bigCount).shuffled(using: &generator)
        let list = try BenchStructures.buildList(reach, order: order)
        try reach.transaction { tx in
            try tx.setRoot(try tx.allocate(roots, TraceRoot(tree: tree, list: .null, tree64: .null)))
        }
        let label = bigCount >= 1 << 20 ? "\(bigCount >> 20)M" : "\(bigCount >> 10)K"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let sequential = try BenchStructures.buildList(reach, order: Array(0..<bigCount))
        let tree64 = try BenchStructures.buildTree(reach, keys: keys, as: TreeNode64.self)
        // One structure linked from the root at a time: the tree, the shuffled list (one miss after
        // another, the worst case), the list in allocation order, the tree of 64-byte nodes.
        func traceCase(
            _ name: String, tree linkedTree: PersistentPointer<TreeNode>, list: PersistentPointer<ListNode>,
            tree64 linkedTree64: PersistentPointer<TreeNode64> = .null
        ) -> BenchCase {
            func traced(threads: Int) throws -> TraceStats {
                try Self.link(reach, roots, tree: linkedTree, list: list, tree64: linkedTree64)
                defer { try? Self.link(reach, roots, tree: tree, list: .null, tree64: .null) }
                return try reach.measureTrace(threads: threads)
            }
            return BenchCase(
                name: name, unitCount: bigCount,
                ours: {
                    let stats = try traced(threads: 1)
                    guard stats.objects >= UInt64(bigCount) else {
                        throw BenchError("\(name): the trace reached \(stats.objects) objects")
                    }
                    return UInt64(stats.seconds * 1e9)
                },
                baselineName: "relocation slab scan (1 thread)",
                baseline: { UInt64(reach.measureRelocationScan(threads: 1).seconds * 1e9) },
                extra: { _, _ in
                    guard let one = try? traced(threads: 1), let all = try? traced(threads: cores) else {
                        return [:]
                    }
                    var figures = [
                        "live_bytes": Double(one.bytes),
                        "gb_s_per_core": one.bytesPerSecondPerThread / 1e9,
                        "gb_s_all_cores": all.seconds > 0 ? Double(all.bytes) / all.seconds / 1e9 : 0,
                        "threads_all_cores": Double(all.threads),
                    ]
                    // The plain depth-first walk of the same tree (nothing marked or moved), per node: the floor.
                    if let root = linkedTree.address {
                        var stack: [UnsafeMutablePointer<TreeNode>] = []
                        stack.reserveCapacity(1 << 10)
                        let ns = (0..<5).map { _ in timed { benchSink &+= walkTree(root, stack: &stack) } }
                            .min()!
                        figures["plain_dfs_ns"] = Double(ns) / Double(bigCount)
                    }
                    return figures
                })
        }
        return [
            traceCase("trace-tree-\(label)", tree: tree, list: .null),
            traceCase("trace-list-\(label)", tree: .null, list: list),
            traceCase("trace-list-sequential-\(label)", tree: .null, list: sequential),
            traceCase("trace-tree64-\(label)", tree: .null, list: .null, tree64: tree64),
        ]
    }

    private static func link(
        _ heap: PersistentHeap, _ roots: TypeHandle<TraceRoot>, tree: PersistentPointer<TreeNode>,
        list: PersistentPointer<ListNode>, tree64: PersistentPointer<TreeNode64>
    ) throws {
        let root = try heap.root(roots)
        try heap.transaction { tx in
            try tx.write(tree, to: root, field: \.tree)
            try tx.write(list, to: root, field: \.list)
            try tx.write(tree64, to: root, field: \.tree64)
        }
    }
}

/// The trace cases' root: one of the trees or the list.
struct TraceRoot: PersistentType {
    var tree: PersistentPointer<TreeNode>
    var list: PersistentPointer<ListNode>
    var tree64: PersistentPointer<TreeNode64>
    static var persistentName: String { "bench.TraceRoot" }
    static var persistentPointers: [PartialKeyPath<TraceRoot>] { [\.tree, \.list, \.tree64] }
}
