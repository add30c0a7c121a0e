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
        var evidence: Evidence
    }

    private let pointsTo: PointsTo
    private var contents: [Int: Set<Int>] = [:]
    private var overlays: [Int: [(RecordID, SourceLocation)]] = [:]
    /// Reads: where bytes of a memory root go (copies and stores whose source is that memory).
    private var copiedInto: [Int: Set<Int>] = [:]
    /// Reads: data fields assigned from bytes loaded from a memory root.
    private var fieldsFilled: [Int: [(RecordID, String, SourceLocation)]] = [:]

    /// Indexes stores, copies, overlays and field assignments by the memory they touch.
    init(facts: FactBase, pointsTo: PointsTo) {
        self.pointsTo = pointsTo
        let movesInto =
            facts.stores.map { ($0.destination, $0.value) } + facts.copies.map { ($0.destination, $0.source) }
        for (destination, source) in movesInto {
            let to = pointsTo.roots(of: destination)
            let from = pointsTo.roots(of: source)
            for memory in to where isMemory(memory) {
                contents[memory, default: []].formUnion(from)
            }
            for origin in from {
                let memory = memoryBehind(origin)
                guard let memory else { continue }
                copiedInto[memory, default: []].formUnion(to)
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
                    (assignment.record, assignment.field, assignment.location))
            }
        }
    }

    /// Every record hit by the sites, with evidence.
    func hits(of sites: [IOSite]) -> [Hit] {
        var out: [Hit] = []
        for site in sites {
            for root in pointsTo.roots(of: site.buffer) {
                var visited = Set<Int>()
                follow(root, site: site, access: site.access, visited: &visited, into: &out)
            }
        }
        // A file mapping is itself a read site: what is laid over it is loaded from the file.
        for (index, root) in pointsTo.roots.enumerated() {
            guard case .mapping(let location) = root else { continue }
            let site = IOSite(call: "mmap", access: .read, buffer: [], location: location)
            var visited = Set<Int>()
            follow(index, site: site, access: .read, visited: &visited, into: &out)
        }
        return out
    }

    private func follow(
        _ root: Int, site: IOSite, access: Access, visited: inout Set<Int>, into out: inout [Hit]
    ) {
        guard visited.insert(root).inserted else { return }
        func evidence(_ location: SourceLocation?) -> Evidence {
            let place = location ?? site.location
            return Evidence(
                file: place.file, line: place.line, site: site.call, access: access,
                siteFile: site.location.file, siteLine: site.location.line)
        }
        switch pointsTo.roots[root] {
        case .object(let record, let location):
            out.append(Hit(record: record, field: nil, evidence: evidence(location)))
        case .field(let record, let field, let location):
            out.append(Hit(record: record, field: field, evidence: evidence(location)))
        case .loaded:
            if access == .write, let memory = memoryBehind(root) {
                follow(memory, site: site, access: access, visited: &visited, into: &out)
            }
        case .function:
            break
        case .storage, .allocation, .mapping, .unknown:
            for (record, location) in overlays[root] ?? [] {
                out.append(Hit(record: record, field: nil, evidence: evidence(location)))
            }
            switch access {
            case .write:
                for stored in contents[root] ?? [] {
                    follow(stored, site: site, access: access, visited: &visited, into: &out)
                }
            case .read:
                for (record, field, location) in fieldsFilled[root] ?? [] {
                    out.append(Hit(record: record, field: field, evidence: evidence(location)))
                }
                for target in copiedInto[root] ?? [] {
                    follow(target, site: site, access: access, visited: &visited, into: &out)
                }
            }
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
