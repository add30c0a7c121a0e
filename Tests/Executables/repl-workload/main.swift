import Foundation
import PMemHeap
import PMemKit
import PMemReplication

// repl-workload: the replicated application the replication tests run and kill.
//
//   repl-workload run POOL LOG COUNT [PROGRESS]   push COUNT nodes (0: until killed), one transaction each,
//                                                 through a Replicator; after each commit returns, store its
//                                                 number in the 8-byte file PROGRESS; print "ready count=N" once
//                                                 attached (N: the list's length then)
//   repl-workload verify POOL                     open the pool (placement from PMEMKIT_HEAP_RELOCATE /
//                                                 PMEMKIT_HEAP_BASE) and check the list: prints "count=N relocated=B"
//
// Environment: REPL_LOG_CAPACITY (bytes of a new log), REPL_BACKPRESSURE (block:SECONDS or fail),
// REPL_START_FILE (after "ready", wait until this file exists before the first push),
// REPL_KILL_AT_COMMIT (SIGKILL itself inside heap commit N, between the log's record and the pool's),
// REPL_PAUSE_US (sleep this long after each commit: a steady pace for long crash phases),
// REPL_NO_DETACH=1 (end without the clean detach, as a crash after the last commit would: the next
// attach writes a baseline), REPL_LEADERSHIP (refuse or wait:SECONDS: commits need the agent's etcd
// leadership), REPL_WRITER (a number stamped, with the epoch the commit was admitted at, in every node:
// `verify` then checks no epoch had two writers). PMEMKIT_CRASH_AT / PMEMKIT_CRASH_LOG place crash points (CrashPoints).
// Exit status: 0 done, 1 failure or inconsistent pool (reason on stderr), 2 bad usage.

func fail(_ message: String, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("repl-workload: \(message)\n".utf8))
    exit(status)
}

/// An 8-byte counter in a shared file mapping: survives the process being killed.
func progressWord(_ path: String) throws -> UnsafeMutablePointer<UInt64> {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0, ftruncate(fd, 8) == 0 else { throw PMemError.system("open", errno: errno, detail: path) }
    let p = mmap(nil, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    close(fd)
    guard let p, p != MAP_FAILED else { throw PMemError.system("mmap", errno: errno, detail: path) }
    return p.assumingMemoryBound(to: UInt64.self)
}

func run(pool: String, log: String, count: Int, progress: String?) throws {
    let environment = ProcessInfo.processInfo.environment
    let heap =
        FileManager.default.fileExists(atPath: pool)
        ? try PersistentHeap.open(path: pool)
        : try PersistentHeap.create(path: pool, size: 64 << 20, options: .init(slabSize: 64 << 10))
    let nodes = try heap.register(Node.self)
    let roots = try heap.register(ListRoot.self)
    var options = Replicator.Options()
    if let text = environment["REPL_LOG_CAPACITY"], let bytes = try? ByteSize.parse(text) {
        options.logCapacity = Int(bytes)
    }
    if let text = environment["REPL_BACKPRESSURE"], let policy = BackPressurePolicy(text) {
        options.backPressure = policy
    }
    if let text = environment["REPL_LEADERSHIP"] {
        if text == "refuse" {
            options.leadership = .refuse
        } else if text.hasPrefix("wait:"), let seconds = Double(text.dropFirst(5)) {
            options.leadership = .wait(timeout: seconds)
        } else {
            fail("REPL_LEADERSHIP must be refuse or wait:SECONDS, not '\(text)'", status: 2)
        }
    }
    let writer = environment["REPL_WRITER"].flatMap { UInt64($0) } ?? 0
    let replicator = try Replicator.attach(to: heap, logPath: log, options: options)
    if let text = environment["REPL_KILL_AT_COMMIT"], let sequence = UInt64(text) {
        heap.addFenceObserver(KillInCommit(sequence: sequence))
    }
    var root = try heap.root(roots)
    if root.isNull {
        root = try replicator.transaction { tx in
            let made = try tx.allocate(roots, ListRoot(count: 0, head: .null))
            try tx.setRoot(made)
            return made
        }
    }
    let word = try progress.map(progressWord)
    word?.pointee = 0
    FileHandle.standardOutput.write(Data("ready count=\(root.address!.pointee.count)\n".utf8))
    if let start = environment["REPL_START_FILE"] {
        while access(start, F_OK) != 0 { usleep(1000) }
    }
    let rootAddress = root.address!
    let fence = replicator.writer.region.leaseFence
    let pause = environment["REPL_PAUSE_US"].flatMap { UInt32($0) } ?? 0
    var done = 0
    while count == 0 || done < count {
        let number = try replicator.transaction { tx -> UInt64 in
            let current = tx.read(rootAddress)
            let next = current.count + 1
            var pushed = Node.expected(next, next: current.head)
            if writer != 0, case .leading(let epoch, _) = fence.standing() {
                pushed.filler.1 = epoch
                pushed.filler.2 = writer
            }
            let node = try tx.allocate(nodes, pushed)
            try tx.write(ListRoot(count: next, head: node), to: rootAddress)
            return next
        }
        word?.pointee = number
        done += 1
        if pause > 0 { usleep(pause) }
    }
    if environment["REPL_NO_DETACH"] == "1" { return try heap.close() }
    replicator.detach()
    try heap.close()
    print("done \(done)")
}

let arguments = CommandLine.arguments
do {
    switch arguments.count > 1 ? arguments[1] : "" {
    case "run":
        guard arguments.count >= 5, let count = Int(arguments[4]) else {
            fail("usage: run POOL LOG COUNT [PROGRESS]", status: 2)
        }
        try run(
            pool: arguments[2], log: arguments[3], count: count,
            progress: arguments.count > 5 ? arguments[5] : nil)
    case "verify":
        guard arguments.count == 3 else { fail("usage: verify POOL", status: 2) }
        let heap = try PersistentHeap.open(path: arguments[2])
        try heap.register(Node.self)
        try heap.register(ListRoot.self)
        let (count, problem, history) = try checkList(heap)
        let relocated = heap.openReport.relocated
        try heap.close()
        if let problem { fail(problem) }
        print(
            "count=\(count) relocated=\(relocated) epochs=\(history.epochs) "
                + "two_writer_epochs=\(history.twoWriterEpochs) epoch_regressions=\(history.regressions) "
                + "last_epoch_first=\(history.lastEpochFirst)")
    default:
        fail("usage: repl-workload run|verify ...", status: 2)
    }
} catch {
    fail("\(error)")
}
