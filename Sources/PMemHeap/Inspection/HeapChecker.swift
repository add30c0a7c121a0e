import Foundation
import PMemKit

/// The result of a full consistency walk.
public struct HeapCheckReport: Encodable, Sendable {
    /// No problem found.
    public var healthy: Bool { problems.isEmpty }
    /// Each problem, one line (at most `problemLimit` listed; `problemCount` counts all).
    public var problems: [String]
    /// Every problem found, including those not listed.
    public var problemCount: Int
    /// Facts worth knowing that are not problems (pending replay, interrupted relocation).
    public var notes: [String]
    /// Allocated objects.
    public var objects: Int
    /// Non-null pointer fields checked.
    public var pointers: Int
    /// Objects reachable from the root, when a root is set.
    public var reachable: Int?
    /// Committed transactions waiting in the redo log (replayed in the check's private view).
    public var pendingTransactions: Int
    /// Bad media under the pool (media errors the kernel knows), and what it hit; nil when none.
    public var media: MediaDamage?

    enum CodingKeys: String, CodingKey {
        case healthy, problems, notes, objects, pointers, reachable
        case problemCount = "problem_count"
        case pendingTransactions = "pending_transactions"
        case media = "media_errors"
    }

    /// Encodes, with the computed `healthy`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(healthy, forKey: .healthy)
        try c.encode(problems, forKey: .problems)
        try c.encode(problemCount, forKey: .problemCount)
        try c.encode(notes, forKey: .notes)
        try c.encode(objects, forKey: .objects)
        try c.encode(pointers, forKey: .pointers)
        try c.encode(reachable, forKey: .reachable)
        try c.encode(pendingTransactions, forKey: .pendingTransactions)
        try c.encode(media, forKey: .media)
    }
}

/// Walks a pool without writing to it: header, type table, slab directory
/// and bitmaps are validated (a damaged one throws `corrupt`); committed
/// transactions still in the log are replayed into a private view; then
/// every pointer field of every allocated object is checked (inside the
/// pool, into an allocated object), the root is checked, and every object
/// is checked reachable from the root (when one is set).
public enum HeapChecker {
    /// Problems listed in a report (all are counted).
    public static let problemLimit = 50

    /// Checks the pool at `path`.
    public static func check(path: String) throws -> HeapCheckReport {
        // Bad media first: their pages read as zeros below, never as poison.
        let media = try MediaDamage.find(path: path)
        let mediaProblems =
            (media?.metadata.map { "bad media in the \($0): not repairable here" } ?? [])
            + (media?.objects.map { object in
                "bad media in '\(object.type)' object at offset \(object.offset): bytes "
                    + object.bad.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ")
                    + " (`--recover` zeroes it)"
            } ?? [])
            + (media.map {
                $0.logBytes > 0
                    ? ["bad media in the redo log: \($0.logBytes) bytes (`--recover` clears them)"] : []
            } ?? [])
            + (media.map {
                $0.freeBytes > 0
                    ? ["bad media in free space: \($0.freeBytes) bytes (`--recover` clears them)"] : []
            } ?? [])
        if let media, !media.repairable {
            return HeapCheckReport(
                problems: Array(mediaProblems.prefix(problemLimit)), problemCount: mediaProblems.count,
                notes: ["the pool was not walked: its metadata sits on bad media"], objects: 0, pointers: 0,
                reachable: nil, pendingTransactions: 0, media: media)
        }
        let view = try PoolView(path: path, masking: media?.ranges ?? [])
        let snapshot = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path)
        var notes: [String] = []
        let scan = RedoLogScan.scan(
            in: view.base, geometry: snapshot.geometry, checkpoint: snapshot.checkpoint,
            salt: snapshot.identity.salt)
        // A damaged log is not replayed even in the view: the pool is checked as stored.
        let records = scan.isDamaged ? [] : scan.replayable
        if scan.isDamaged {
            notes.append(
                "the redo log is damaged: \(scan.records.count) intact committed transactions are not "
                    + "replayed (checked as stored)")
        }
        if !scan.cutShort.isEmpty {
            notes.append(
                "\(scan.cutShort.count) commits were cut short by a crash (sequence "
                    + scan.cutShort.map(String.init).joined(separator: ", ") + "): never committed")
        }
        if !records.isEmpty {
            if view.isPrivate {
                let memory = PoolMemory(
                    privateView: view.base, size: snapshot.geometry.poolSize, salt: snapshot.identity.salt,
                    unmap: {})
                _ = RedoLog.replay(
                    records, pool: memory, geometry: snapshot.geometry, checkpoint: snapshot.checkpoint)
                notes.append("\(records.count) committed transactions await replay (checked as replayed)")
            } else {
                notes.append("\(records.count) committed transactions await replay (checked as stored)")
            }
        }
        if snapshot.state.relocationPending {
            notes.append("a relocation was interrupted; the next open finishes it")
        }
        if !snapshot.state.cleanShutdown { notes.append("the pool was not closed cleanly (or is open)") }
        // Replay may have changed the root line and bitmaps: read them again.
        var walked = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path)
        var reportLeaks = true
        if walked.identity.features.contains(.reachability) && !walked.state.cleanShutdown {
            // The stored bitmaps are not to be trusted: what the next open's trace will decide is checked.
            if view.isPrivate {
                let trace = try traceInView(view, snapshot: walked, path: path)
                notes.append(
                    "a reachability pool not closed cleanly: the check traced it as the next open will "
                        + "(\(trace.objects) objects reachable; \(trace.reclaimed) the stored bitmaps hold are "
                        + "unreachable and will be reclaimed, \(trace.slabsFreed) slabs freed)")
                walked = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path)
                walked.state.bases = [UInt64(UInt(bitPattern: view.base))]
            } else {
                reportLeaks = false
                notes.append(
                    "a reachability pool not closed cleanly, checked as stored: unreachable objects are not "
                        + "reported (the next open reclaims them)")
            }
        }
        var walker = PoolWalker(base: UnsafeRawPointer(view.base), snapshot: walked)
        walker.reportLeaks = reportLeaks
        walker.walk()
        if let media { notes.append("\(media.summary); the walk read their pages as zeros") }
        let problems = mediaProblems + scan.damage.map(\.description) + walker.problems
        return HeapCheckReport(
            problems: Array(problems.prefix(problemLimit)), problemCount: problems.count,
            notes: notes,
            objects: walker.objects, pointers: walker.pointers, reachable: walker.reachable,
            pendingTransactions: scan.records.count, media: media)
    }
}

extension HeapChecker {
    /// Runs the open's trace on the check's private view: bitmaps rebuilt from
    /// what the root reaches, pointers moved to the view's base.
    static func traceInView(_ view: PoolView, snapshot: PoolSnapshot, path: String) throws -> TraceStats {
        let geometry = snapshot.geometry
        let memory = PoolMemory(
            privateView: view.base, size: geometry.poolSize, salt: snapshot.identity.salt, unmap: {})
        var slabTypes = snapshot.slabTypes
        // Unresolved pointers are the walk's to report, one by one.
        return try Tracer.recover(
            pool: memory, geometry: geometry, slabTypes: &slabTypes, continued: snapshot.continued,
            types: snapshot.typeRuntimes(), from: snapshot.state.bases.filter { $0 != memory.baseAddress },
            threads: 1, acceptUnresolved: true)
    }
}

/// The walk itself, over a validated snapshot. Pointer values are resolved
/// against every base the pool's pointers may be written for.
struct PoolWalker {
    let base: UnsafeRawPointer
    let snapshot: PoolSnapshot
    let layouts: [SlabLayout]
    var problems: [String] = []
    var objects = 0
    var pointers = 0
    var reachable: Int?
    /// Whether allocated objects the root does not reach are a problem (not
    /// in a reachability pool whose bitmaps the next open rebuilds).
    var reportLeaks = true

    init(base: UnsafeRawPointer, snapshot: PoolSnapshot) {
        self.base = base
        self.snapshot = snapshot
        let slabSize = snapshot.geometry.slabSize
        layouts = snapshot.types.map {
            SlabLayout(stride: $0.stride, alignment: $0.description.alignment, slabSize: slabSize)!
        }
    }

    /// A pool offset for pointer value `value`, or `nil` when it is outside every known range.
    func resolve(_ value: UInt64) -> Int? {
        let span = UInt64(snapshot.geometry.poolSize)
        for b in snapshot.state.bases where value &- b < span { return Int(value - b) }
        return nil
    }

    /// Where a pointer leads: an allocated object, or the reason it is not one.
    enum Target {
        case success((slab: Int, slot: Int))
        case failure(String)
    }

    /// The allocated object containing pool offset `offset`: (slab, slot), or a reason it is not one.
    func object(containing offset: Int) -> Target {
        let g = snapshot.geometry
        let inSlabs = offset - g.slabsOffset
        guard inSlabs >= 0, inSlabs < g.slabCount * g.slabSize else {
            return .failure("points into pool metadata at offset \(offset)")
        }
        var slab = inSlabs / g.slabSize
        // Into a large object past its first slab: it begins in an earlier slab.
        while slab > 0 && snapshot.continued[slab] { slab -= 1 }
        let typeID = Int(snapshot.slabTypes[slab])
        guard typeID != 0 else { return .failure("points into free slab \(slab)") }
        let layout = layouts[typeID - 1]
        let inside = inSlabs - slab * g.slabSize - layout.objectsOffset
        guard inside >= 0, inside / layout.stride < layout.count else {
            return .failure("points outside the objects of slab \(slab)")
        }
        let slot = inside / layout.stride
        guard isAllocated(slab: slab, slot: slot) else {
            return .failure("points to free slot \(slot) of slab \(slab) (dangling)")
        }
        return .success((slab, slot))
    }

    func isAllocated(slab: Int, slot: Int) -> Bool {
        let word = base.load(
            fromByteOffset: snapshot.geometry.slabOffset(slab) + slot / 64 * 8, as: UInt64.self)
        return word & (UInt64(1) << UInt64(slot % 64)) != 0
    }

    func objectOffset(slab: Int, slot: Int) -> Int {
        let layout = layouts[Int(snapshot.slabTypes[slab]) - 1]
        return snapshot.geometry.slabOffset(slab) + layout.objectsOffset + slot * layout.stride
    }

    /// Visits every allocated object: `body(slab, slot, type index)`.
    func forEachObject(_ body: (Int, Int, Int) -> Void) {
        for (slab, typeID) in snapshot.slabTypes.enumerated() where typeID != 0 {
            let layout = layouts[Int(typeID) - 1]
            let bitmap = base + snapshot.geometry.slabOffset(slab)
            for w in 0..<layout.bitmapWords {
                var bits = bitmap.load(fromByteOffset: w * 8, as: UInt64.self)
                while bits != 0 {
                    body(slab, w * 64 + bits.trailingZeroBitCount, Int(typeID) - 1)
                    bits &= bits - 1
                }
            }
        }
    }

    mutating func walk() {
        var edges: [Int: [(slab: Int, slot: Int)]] = [:]
        let g = snapshot.geometry
        var found: [String] = []
        var objectCount = 0
        var pointerCount = 0
        forEachObject { slab, slot, typeIndex in
            objectCount += 1
            let type = snapshot.types[typeIndex]
            let at = objectOffset(slab: slab, slot: slot)
            var targets: [(slab: Int, slot: Int)] = []
            for field in type.description.pointerOffsets {
                let value = base.load(fromByteOffset: at + field, as: UInt64.self)
                guard value != 0 else { continue }
                pointerCount += 1
                let whereText = "'\(type.description.name)' object at offset \(at), field +\(field)"
                guard let offset = resolve(value) else {
                    found.append("\(whereText): pointer 0x\(String(value, radix: 16)) is outside the pool")
                    continue
                }
                switch object(containing: offset) {
                case .success(let target): targets.append(target)
                case .failure(let reason): found.append("\(whereText): pointer \(reason)")
                }
            }
            edges[slab * g.slabSize + slot] = targets
        }
        objects = objectCount
        pointers = pointerCount
        problems = found
        checkRoot(edges: edges)
    }

    private mutating func checkRoot(edges: [Int: [(slab: Int, slot: Int)]]) {
        guard snapshot.rootAddress != 0 else { return }
        guard let offset = resolve(snapshot.rootAddress) else {
            problems.append(
                "the root pointer 0x\(String(snapshot.rootAddress, radix: 16)) is outside the pool")
            return
        }
        let root: (slab: Int, slot: Int)
        switch object(containing: offset) {
        case .success(let target): root = target
        case .failure(let reason):
            problems.append("the root pointer \(reason)")
            return
        }
        if snapshot.slabTypes[root.slab] != snapshot.rootType
            || objectOffset(slab: root.slab, slot: root.slot) != offset
        {
            problems.append("the root does not point to the start of an object of its recorded type")
        }
        let slabSize = snapshot.geometry.slabSize
        let key = { (t: (slab: Int, slot: Int)) in t.slab * slabSize + t.slot }
        var seen: Set<Int> = [key(root)]
        var stack = [root]
        while let next = stack.popLast() {
            for target in edges[key(next)] ?? [] where seen.insert(key(target)).inserted {
                stack.append(target)
            }
        }
        reachable = seen.count
        if seen.count < objects && reportLeaks {
            problems.append(
                "\(objects - seen.count) allocated objects are unreachable from the root (leaked)")
        }
    }
}
