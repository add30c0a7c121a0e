import Foundation
import PMemHeap
import PMemKit
import PMemReplication

/// A list node: what each committed transaction of `commit-` and `failover-` pushes.
private struct BenchNode: PersistentType {
    var value: UInt64
    var next: PersistentPointer<BenchNode>
    var filler: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    static var persistentName: String { "pmem-bench.replication.Node" }
    static var persistentPointers: [PartialKeyPath<BenchNode>] { [\BenchNode.next] }
}

/// 512 bytes of data: what each transaction behind `ship-` and `drain-` rewrites.
private struct BenchBlob: PersistentType {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    var pad:
        (
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64),
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64),
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64),
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64),
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64),
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64),
            (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        )
    static var persistentName: String { "pmem-bench.replication.Blob512" }
}

/// The directory the suite works in, removed when the process exits.
nonisolated(unsafe) private var workDirectory: String?

/// `replication`: commit latency with replication against local-only commit,
/// shipping against raw TCP, drain time, failover time. The application,
/// the agent and the replica run in one process (own threads), talking over
/// loopback TCP; pools, log and store are files in /dev/shm (DRAM standing in for PMem).
struct ReplicationSuite: BenchSuite {
    static let name = "replication"
    static let summary =
        "commit with replication vs local commit; shipping vs raw loopback TCP; drain of 64 MiB; failover time, "
        + "by hand and automatic (etcd, three nodes)"

    let quick: Bool
    let backing: String
    let directory: String
    let psk: PreSharedKey

    init(options: BenchOptions) throws {
        quick = options.quick
        directory = "\(options.path ?? "/dev/shm")/pmem-bench-replication.\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        workDirectory = directory
        atexit { if let path = workDirectory { try? FileManager.default.removeItem(atPath: path) } }
        psk = try PreSharedKey(bytes: Array(repeating: 7, count: 32))
        backing =
            "emulated (files in \(options.path ?? "/dev/shm: DRAM standing in for PMem")); application, HA agent and "
            + "replica in one process on loopback TCP, AES-GCM-encrypted frames (failover-auto: processes, see its doc)"
    }

    /// The cases; `PMEMKIT_BENCH_CASES=ship,drain` (prefixes) builds and runs only those, for profiling.
    func cases() throws -> [BenchCase] {
        let only = Overrides.currentOrDefaults.text(.benchCases)?.split(separator: ",").map(String.init)
        func wanted(_ prefix: String) -> Bool { only?.contains { prefix.hasPrefix($0) } ?? true }
        var out: [BenchCase] = []
        if wanted("commit-small") { out.append(try commitCase(shipping: true)) }
        if wanted("commit-small-log-only") { out.append(try commitCase(shipping: false)) }
        if wanted("ship") { out.append(try shipCase(drain: false)) }
        if wanted("drain") { out.append(try shipCase(drain: true)) }
        if wanted("failover-") { out.append(try failoverCase()) }
        if wanted("failover-auto"), let automatic = failoverAutoCase() { out.append(automatic) }
        return out
    }

    private func path(_ name: String) -> String { "\(directory)/\(name)" }

    private static func push(_ tx: Transaction, root: UnsafeMutablePointer<BenchNode>) throws {
        let head = tx.read(root)
        let node = try tx.allocate(
            BenchNode.self, BenchNode(value: head.value + 1, next: head.next, filler: (1, 2, 3, 4, 5, 6)))
        try tx.write(BenchNode(value: head.value + 1, next: node, filler: head.filler), to: root)
    }

    private static func listHeap(_ path: String) throws -> (PersistentHeap, UnsafeMutablePointer<BenchNode>) {
        let heap = try PersistentHeap.create(path: path, size: 64 << 20)
        try heap.register(BenchNode.self)
        let root = try heap.transaction { tx in
            let made = try tx.allocate(
                BenchNode.self, BenchNode(value: 0, next: .null, filler: (0, 0, 0, 0, 0, 0)))
            try tx.setRoot(made)
            return made
        }
        return (heap, root.address!)
    }

    // MARK: commit-

    /// One small transaction (allocate a node, update the root), replicated
    /// (appended to the log before commit returns) against the same
    /// transaction on a heap without replication. With `shipping`, the agent
    /// and the replica run meanwhile (on the same two cores); without, the
    /// log only takes the records (the cost on the commit path alone).
    private func commitCase(shipping: Bool) throws -> BenchCase {
        let units = quick ? 500 : 5_000
        let name = shipping ? "commit" : "commit-log-only"
        let (local, localRoot) = try Self.listHeap(path("\(name).local.pool"))
        let (replicated, root) = try Self.listHeap(path("\(name).pool"))
        let replicator = try Replicator.attach(
            to: replicated, logPath: path("\(name).log"), options: .init(logCapacity: 256 << 20))
        let rig =
            shipping
            ? try ReplicationRig(
                logPath: path("\(name).log"), storeDirectory: path("\(name).store"), psk: psk) : nil
        return BenchCase(
            name: shipping ? "commit-small" : "commit-small-log-only", unitCount: units,
            ours: {
                _ = rig
                return try timed {
                    for _ in 0..<units { try replicator.transaction { try Self.push($0, root: root) } }
                }
            },
            baselineName: "local-only commit (same heap transaction, no replication)",
            baseline: {
                try timed {
                    for _ in 0..<units { try local.transaction { try Self.push($0, root: localRoot) } }
                }
            })
    }

    // MARK: ship- and drain-

    /// A log holding a baseline and then `bytes` of transaction records (one
    /// 512-byte write each), and a replica store that applied the baseline
    /// only: both kept pristine, copied before each round.
    private func prepare(_ name: String, bytes: Int) throws -> (log: String, store: String, used: Int) {
        let pool = path("\(name).pool")
        let heap = try PersistentHeap.create(path: pool, size: 64 << 20)
        try heap.register(BenchBlob.self)
        let log = path("\(name).log")
        let replicator = try Replicator.attach(
            to: heap, logPath: log, options: .init(logCapacity: bytes + (16 << 20), backPressure: .fail))
        let baselineBytes = replicator.writer.usedBytes
        let blob = try heap.transaction { tx in
            let made = try tx.allocateZeroed(typeID: 1).assumingMemoryBound(to: BenchBlob.self)
            try tx.setRoot(PersistentPointer(made))
            return made
        }
        var value: UInt64 = 0
        while replicator.writer.usedBytes - baselineBytes < bytes {
            value += 1
            var copy = blob.pointee
            copy.words.0 = value
            try replicator.transaction { try $0.write(copy, to: blob) }
        }
        let used = replicator.writer.usedBytes - baselineBytes
        replicator.detach()
        try heap.close()
        unlink(pool)
        // The store: the baseline's records applied as one batch.
        let region = try LogRegion.open(path: log)
        var scanner = LogScanner(region: region, from: region.reclaimPoint())
        var batch: [UInt8] = []
        while let record = scanner.next() {
            batch += UnsafeRawBufferPointer(start: record.bytes, count: record.header.footprint)
            if record.header.kind == .baselineEnd { break }
        }
        let storePath = path("\(name).store")
        let store = try ReplicaStore(directory: storePath)
        try store.follow(log: region.uuid)
        try batch.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: 1) }
        return (log, storePath, used)
    }

    /// Ships (or drains) `size` of transaction records to a replica that has
    /// the baseline: from the agent's start (or the power-fail notice) to the
    /// replica's acknowledgement of the last record, against the same bytes
    /// over raw loopback TCP.
    private func shipCase(drain: Bool) throws -> BenchCase {
        let size = drain ? (quick ? 8 << 20 : 64 << 20) : (quick ? 8 << 20 : 32 << 20)
        let name = drain ? "drain" : "ship"
        let (pristineLog, pristineStore, used) = try prepare(name, bytes: size)
        let log = path("\(name).work.log")
        let store = path("\(name).work.store")
        let psk = self.psk
        return BenchCase(
            name: "\(name)-\(size >> 20)M", unitCount: 1,
            ours: {
                for item in [store, log] { try? FileManager.default.removeItem(atPath: item) }
                try FileManager.default.copyItem(atPath: pristineLog, toPath: log)
                try FileManager.default.copyItem(atPath: pristineStore, toPath: store)
                let start = nowNs()
                let rig = try ReplicationRig(logPath: log, storeDirectory: store, psk: psk)
                let elapsed: UInt64
                if drain {
                    let notice = nowNs()
                    guard let report = rig.drain(), report.complete else {
                        throw PMemError(.system, operation: "bench", detail: "the drain did not complete")
                    }
                    elapsed = nowNs() - notice
                } else {
                    try rig.waitCaughtUp()
                    elapsed = nowNs() - start
                }
                try rig.stop()
                return elapsed
            },
            baselineName: "raw TCP on loopback, 64 KiB writes, same bytes",
            baseline: { try rawTCPTransfer(bytes: used) },
            extra: { ours, base in
                var e = ["ours_GBps": Double(used) / ours, "bytes": Double(used)]
                if let base { e["baseline_GBps"] = Double(used) / base }
                return e
            })
    }

    // MARK: failover-

    /// From the application's death (the agent's drain notice) to a promoted
    /// replica's pool opened at a new base (pointers relocated): drain,
    /// stop the replica, promote, open.
    private func failoverCase() throws -> BenchCase {
        let commits = quick ? 2_000 : 20_000
        var round = 0
        let psk = self.psk
        return BenchCase(
            name: "failover-\(commits / 1000)k", unitCount: 1,
            ours: {
                round += 1
                let pool = path("failover\(round).pool")
                let log = path("failover\(round).log")
                let store = path("failover\(round).store")
                let promoted = path("failover\(round).promoted")
                let (heap, root) = try Self.listHeap(pool)
                let replicator = try Replicator.attach(to: heap, logPath: log)
                let rig = try ReplicationRig(logPath: log, storeDirectory: store, psk: psk)
                for _ in 0..<commits { try replicator.transaction { try Self.push($0, root: root) } }
                let start = nowNs()
                guard let report = rig.drain(), report.complete else {
                    throw PMemError(.system, operation: "bench", detail: "the drain did not complete")
                }
                try rig.stop()
                _ = try rig.store.promote(to: promoted)
                let opened = try PersistentHeap.open(
                    path: promoted, options: .init(placement: .differentFromRecorded))
                try opened.register(BenchNode.self)
                guard try opened.root(BenchNode.self).pointee.value == UInt64(commits),
                    opened.openReport.relocated
                else {
                    throw PMemError(
                        .system, operation: "bench", detail: "the promoted pool does not hold every commit")
                }
                let elapsed = nowNs() - start
                try opened.close()
                try heap.close()
                for file in [pool, log, promoted] { unlink(file) }
                try? FileManager.default.removeItem(atPath: store)
                return elapsed
            },
            baselineName: nil, baseline: nil)
    }
}
