import Foundation

/// From I/O sites to the records whose bytes they move.
///
/// Writes: a buffer's roots, the records overlaid on its memory, and what was
/// stored or copied into it (recursively). Reads: the same roots and overlays,
/// plus whatever the read bytes are copied or assigned into afterwards.
struct Reachability {
    /// A record met at a site, directly or through one of its data fields.
    struct Hit: Hashable {
        var record: RecordID
        /// The data field, for field-by-field (de)serialization; nil for the whole record.
        var field: String?
        /// The function naming the field.
        var function: String?
        var evidence: Evidence
    }

    private let pointsTo: PointsTo
    private let records: [RecordID: RecordInfo]
    /// Stores and copies: the roots written to and the roots whose bytes were moved.
    private var moves: [(to: Set<Int>, from: Set<Int>)] = []
    private var moveAtoms: [String] = []
    /// Writes: for each memory root, the moves that put bytes into it.
    private var movedInto: [Int: [Int]] = [:]
    /// Reads: for each memory root, the moves that take bytes out of it.
    private var movedOutOf: [Int: [Int]] = [:]
    private var overlays: [Int: [(RecordID, SourceLocation)]] = [:]
    /// Reads: data fields assigned from bytes loaded from a memory root.
    private var fieldsFilled: [Int: [(RecordID, String, SourceLocation, String?)]] = [:]

    /// Mappings of descriptors that are also record-locked.
    private var lockFiles: Set<SourceLocation> = []

    /// Indexes stores, copies, overlays and field assignments by the memory they touch.
    init(facts: FactBase, pointsTo: PointsTo) {
        self.pointsTo = pointsTo
        records = facts.records
        let locked = Set(
            facts.lockedDescriptors.flatMap { Self.descriptorKeys(pointsTo.roots(of: $0), pointsTo) })
        for (location, descriptor) in facts.mappings
        where !locked.isDisjoint(with: Self.descriptorKeys(pointsTo.roots(of: descriptor), pointsTo)) {
            lockFiles.insert(location)
        }
        // Stores move values (a field, a struct) into memory; copies move memory to memory.
        // Only copies carry read bytes onwards: a scalar loaded and stored is a value, not a layout.
        let movesInto =
            facts.stores.map { ($0.destination, $0.value, false) }
            + facts.copies.map { ($0.destination, $0.source, true) }
        for (destination, source, isCopy) in movesInto {
            let move = (to: pointsTo.roots(of: destination), from: pointsTo.roots(of: source))
            let index = moves.count
            moves.append(move)
            if AnalysisTrace.explainFilter != nil { moveAtoms.append("\(destination) <- \(source)") }
            for memory in move.to where isMemory(memory) {
                movedInto[memory, default: []].append(index)
            }
            for memory in Set(move.from.compactMap(memoryBehind)) where isCopy {
                movedOutOf[memory, default: []].append(index)
            }
        }
        for overlay in facts.overlays {
            for memory in pointsTo.roots(of: overlay.operand) where isMemory(memory) {
                overlays[memory, default: []].append((overlay.record, overlay.location))
            }
        }
        for assignment in facts.fieldAssignments {
            for origin in pointsTo.roots(of: assignment.value) {
                guard case .loaded = pointsTo.roots[origin], let memory = memoryBehind(origin) else {
                    continue
                }
                fieldsFilled[memory, default: []].append(
                    (assignment.record, assignment.field, assignment.location, assignment.function))
            }
        }
    }

    /// A record or data field reached from a root, with where it was named (nil: at the site).
    struct Target: Hashable {
        var record: RecordID
        var field: String?
        var location: SourceLocation?
        var function: String? = nil
    }

    /// Every record hit by the sites, with evidence.
    ///
    /// What a root reaches does not depend on the site, so the closure is computed
    /// once per direction over roots and moves, then read off for each site.
    func hits(of sites: [IOSite]) -> [Hit] {
        var sitesAndRoots: [(IOSite, Int)] = []
        for site in sites {
            for root in pointsTo.roots(of: site.buffer) { sitesAndRoots.append((site, root)) }
        }
        // A file mapping is itself a read site: what is laid over it is loaded from the file,
        // unless the file only coordinates processes (locked, never msync'd: a lock table).
        let synced = Set(sitesAndRoots.filter { $0.0.call == "msync" }.map(\.1))
        for (index, root) in pointsTo.roots.enumerated() {
            guard case .mapping(let location) = root, synced.contains(index) || !lockFiles.contains(location)
            else { continue }
            sitesAndRoots.append((IOSite(call: "mmap", access: .read, buffer: [], location: location), index))
        }
        var targets: [Target] = []
        var targetIndex: [Target: Int] = [:]
        func label(_ target: Target) -> Int {
            if let known = targetIndex[target] { return known }
            targets.append(target)
            targetIndex[target] = targets.count - 1
            return targets.count - 1
        }
        var closures: [Access: Closure] = [:]
        for access in [Access.read, .write] {
            let starts = sitesAndRoots.filter { $0.0.access == access }.map(\.1)
            closures[access] = Closure(
                nodeCount: pointsTo.roots.count + moves.count, starts: starts,
                successors: { successors(of: $0, access) },
                labels: { targetsAt($0, access).map(label) })
        }
        if let probe = AnalysisTrace.explainFilter {
            explain(probe, sitesAndRoots)
        }
        var out = Set<Hit>()
        for (site, root) in sitesAndRoots {
            for targetID in closures[site.access]?.labels(reachedFrom: root) ?? [] {
                let target = targets[targetID]
                let place = target.location ?? site.location
                let evidence = Evidence(
                    file: place.file, line: place.line, site: site.call, access: site.access,
                    siteFile: site.location.file, siteLine: site.location.line)
                out.insert(
                    Hit(
                        record: target.record, field: target.field, function: target.function,
                        evidence: evidence))
            }
        }
        return Array(out)
    }

    /// Prints, for a few sites, the path from the buffer's root to a target matching `probe`.
    private func explain(_ probe: String, _ sitesAndRoots: [(IOSite, Int)]) {
        var shown = 0
        for (site, start) in sitesAndRoots where shown < 3 {
            var parent: [Int: Int] = [start: -1]
            var queue = [start]
            var head = 0
            while head < queue.count {
                let node = queue[head]
                head += 1
                let hit = targetsAt(node, site.access).contains { "\($0)".contains(probe) }
                if hit {
                    shown += 1
                    AnalysisTrace.emit("explain: \(site.call) at \(site.location.file):\(site.location.line)")
                    var n = node
                    while n >= 0 {
                        let text =
                            n < pointsTo.roots.count
                            ? "\(pointsTo.roots[n])"
                            : "move#\(n - pointsTo.roots.count) \(moveAtoms[n - pointsTo.roots.count])"
                        AnalysisTrace.emit("    " + text.prefix(600))
                        n = parent[n] ?? -1
                    }
                    break
                }
                for next in successors(of: node, site.access) where parent[next] == nil {
                    parent[next] = node
                    queue.append(next)
                }
            }
        }
    }

    /// What identifies a file descriptor across the program: the field or variable holding it.
    private static func descriptorKeys(_ roots: Set<Int>, _ pointsTo: PointsTo) -> [String] {
        roots.compactMap { root in
            switch pointsTo.roots[root] {
            case .field(let record, let field, _, _): return record + "." + field
            case .unknown(let place): return place
            default: return nil
            }
        }
    }

    /// Graph nodes are roots, then moves (offset by the root count).
    private func successors(of node: Int, _ access: Access) -> [Int] {
        let rootCount = pointsTo.roots.count
        if node >= rootCount {
            let move = moves[node - rootCount]
            return Array(access == .write ? move.from : move.to)
        }
        switch pointsTo.roots[node] {
        case .loaded:
            // A value loaded from memory and stored elsewhere is a scalar (a flag, a
            // length), not that memory's layout: typed copies go through memcpy instead.
            return []
        case .storage, .allocation, .mapping, .unknown:
            let edges = access == .write ? movedInto[node] : movedOutOf[node]
            return (edges ?? []).map { $0 + rootCount }
        case .address(let place):
            // Writing `&n` writes n's value: the data fields that flowed into it.
            guard access == .write else { return [] }
            return pointsTo.roots(ofPlace: place).filter {
                if case .field = pointsTo.roots[$0] { true } else { false }
            }
        case .object(let record, _):
            // A whole record moves its byte-array fields too, with what was formatted into them.
            let fields = records[record]?.fields ?? []
            return fields.filter(\.isByteArray).compactMap { pointsTo.existingRoot(.storage($0.usr)) }
        case .field, .function:
            return []
        }
    }

    /// The records a node stands for itself: typed roots, overlays, fields filled from read bytes.
    private func targetsAt(_ node: Int, _ access: Access) -> [Target] {
        guard node < pointsTo.roots.count else { return [] }
        switch pointsTo.roots[node] {
        case .object(let record, let location):
            return [Target(record: record, field: nil, location: location)]
        case .field(let record, let field, let location, let function):
            return [Target(record: record, field: field, location: location, function: function)]
        case .storage, .allocation, .mapping, .unknown:
            var out = (overlays[node] ?? []).map { Target(record: $0.0, field: nil, location: $0.1) }
            if access == .read {
                out += (fieldsFilled[node] ?? []).map {
                    Target(record: $0.0, field: $0.1, location: $0.2, function: $0.3)
                }
            }
            return out
        case .loaded, .function, .address:
            return []
        }
    }

    private func isMemory(_ root: Int) -> Bool { pointsTo.roots[root].isMemory }

    /// The memory a root stands for: itself, or the memory its bytes were loaded from.
    private func memoryBehind(_ root: Int) -> Int? {
        switch pointsTo.roots[root] {
        case .loaded(let memory): return pointsTo.intern(memory)
        case let other where other.isMemory: return root
        default: return nil
        }
    }
}
