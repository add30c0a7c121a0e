import Foundation
import PMemHeap

// heap-crash-child: the process the crash tests kill.
//
//   heap-crash-child work POOL SEED THREADS OPERATIONS   run the workload, printing "ack W N" after each commit
//   heap-crash-child verify POOL ACK0 ACK1               reopen, check invariants, then run the checker
//   heap-crash-child populate POOL ITEMS                 fill a new pool for relocation tests
//   heap-crash-child reopen POOL                         open (relocating as the environment says) and close
//   heap-crash-child resize POOL grow SIZE|shrink -      grow or shrink the closed pool
//   heap-crash-child large POOL SEED                     replace a large object 40 times (LargeWorkload.swift)
//   heap-crash-child large-verify POOL                   check the large workload's pool
//
// Crash points come from PMEMKIT_CRASH_AT; placement from PMEMKIT_HEAP_RELOCATE / PMEMKIT_HEAP_BASE.
// Exit status: 0 done, 1 invariant broken (reasons on stderr), 2 bad usage.

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("heap-crash-child: \(message)\n".utf8))
    exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    fail("usage: heap-crash-child work|verify|populate|reopen POOL ...", status: 2)
}
let path = arguments[2]

do {
    switch arguments[1] {
    case "work":
        guard arguments.count == 6, let seed = UInt64(arguments[3]), let threads = Int(arguments[4]),
            let operations = Int(arguments[5]), (1...2).contains(threads)
        else { fail("usage: work POOL SEED THREADS(1-2) OPERATIONS", status: 2) }
        let heap: PersistentHeap
        if FileManager.default.fileExists(atPath: path) {
            heap = try PersistentHeap.open(path: path)
        } else {
            // HEAP_CRASH_RECOVERY=reachability: a pool whose allocations persist nothing (Worker then
            // allocates and frees outside transactions too).
            let recovery =
                ProcessInfo.processInfo.environment["HEAP_CRASH_RECOVERY"].flatMap(AllocationRecovery.init)
                ?? .logged
            heap = try PersistentHeap.create(
                path: path, size: 16 << 20, options: .init(slabSize: 16 << 10, recovery: recovery))
        }
        let root = try openRoot(heap)
        _ = "ready\n".withCString { write(1, $0, strlen($0)) }
        let group = DispatchGroup()
        for index in 0..<threads {
            group.enter()
            Thread {
                var worker = Worker(
                    heap: heap, root: root, index: index, random: SplitMix(state: seed &+ UInt64(index)))
                do { try worker.run(operations: operations) } catch { fail("worker \(index): \(error)") }
                group.leave()
            }.start()
        }
        group.wait()
        try heap.close()
    case "verify":
        // "-" for an acknowledgement means: no commit is known to have returned.
        guard arguments.count == 5, let a0 = Int64(arguments[3]) ?? (arguments[3] == "-" ? -1 : nil),
            let a1 = Int64(arguments[4]) ?? (arguments[4] == "-" ? -1 : nil)
        else {
            fail("usage: verify POOL ACK0|- ACK1|-", status: 2)
        }
        let heap = try PersistentHeap.open(path: path)
        let failures = try verify(heap, acknowledged: [a0, a1])
        let relocated = heap.openReport.relocated
        let ops = try openRoot(heap).pointee
        try heap.close()
        let report = try HeapChecker.check(path: path)
        let problems = failures + report.problems
        guard problems.isEmpty else { fail(problems.prefix(5).joined(separator: "; ")) }
        print(
            "ok objects=\(report.objects) relocated=\(relocated) traced=\(heap.openReport.trace != nil) replayed=\(heap.openReport.replayedTransactions) "
                + "ops=\(ops.ops0),\(ops.ops1)")
    case "populate":
        guard arguments.count == 4, let items = Int(arguments[3]) else {
            fail("usage: populate POOL ITEMS", status: 2)
        }
        let heap = try PersistentHeap.create(path: path, size: 32 << 20, options: .init(slabSize: 4096))
        let root = try openRoot(heap)
        var worker = Worker(heap: heap, root: root, index: 0, random: SplitMix(state: 7))
        var done = 0
        while done < items {
            let batch = min(500, items - done)
            try worker.push(batch)
            done += batch
        }
        try heap.close()
    case "resize":
        // resize POOL grow SIZE | resize POOL shrink -
        guard arguments.count == 5 else { fail("usage: resize POOL grow SIZE|shrink -", status: 2) }
        if arguments[3] == "grow", let size = Int(arguments[4]) {
            _ = try PersistentHeap.grow(path: path, to: size)
        } else if arguments[3] == "shrink" {
            _ = try PersistentHeap.shrink(path: path)
        } else {
            fail("usage: resize POOL grow SIZE|shrink -", status: 2)
        }
    case "large":
        guard arguments.count == 4, let seed = UInt64(arguments[3]) else {
            fail("usage: large POOL SEED", status: 2)
        }
        try largeWork(path: path, seed: seed)
    case "large-verify":
        let problems = try largeVerify(path: path)
        guard problems.isEmpty else { fail(problems.prefix(5).joined(separator: "; ")) }
    case "reopen":
        try PersistentHeap.open(path: path).close()
    default:
        fail("unknown command \(arguments[1])", status: 2)
    }
} catch {
    fail("\(error)")
}
