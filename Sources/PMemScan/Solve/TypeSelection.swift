/// Field hits that belong together: same direction, same function.
private struct FieldGroup: Hashable {
    var access: Access
    var function: String?
}

/// From hits to the reported types: whole-record hits, records serialized
/// field by field, and the records those embed by value.
struct TypeSelection {
    /// Report records declared in system headers when they are hit directly
    /// (`struct stat` written to a file); by default they appear only when embedded.
    var includeSystemTypes = false

    /// The persistent types, sorted by name.
    func select(hits: [Reachability.Hit], facts: FactBase) -> [AnalyzedType] {
        var evidence: [RecordID: Set<Evidence>] = [:]
        // Field hits grouped by record, direction and the function naming the fields.
        var fieldEvidence: [RecordID: [FieldGroup: [String: Set<Evidence>]]] = [:]
        for hit in hits {
            if let field = hit.field {
                let group = FieldGroup(access: hit.evidence.access, function: hit.function)
                fieldEvidence[hit.record, default: [:]][group, default: [:]][field, default: []]
                    .insert(hit.evidence)
            } else {
                evidence[hit.record, default: []].insert(hit.evidence)
            }
        }
        // Field by field: the record counts when one function sends two or more of its data
        // fields (or all of them) the same way; a lone field, or fields scattered over
        // unrelated code, says little about the record.
        for (record, byAccess) in fieldEvidence {
            let fieldCount = facts.records[record]?.fields.count ?? 0
            for (_, fields) in byAccess where fields.count >= min(2, max(1, fieldCount)) {
                evidence[record, default: []].formUnion(fields.values.joined())
            }
        }
        let isApplicationType = { (record: RecordID) -> Bool in
            guard let info = facts.records[record] else { return false }
            return includeSystemTypes || !info.isSystem
        }
        evidence = evidence.filter { isApplicationType($0.key) }
        addEmbedded(into: &evidence, facts: facts)
        // System records embedded by value (a pthread_mutex_t in a shared header) are part of
        // their holder's layout, not application types to convert.
        evidence = evidence.filter { isApplicationType($0.key) }
        return evidence.compactMap { record, found in
            describe(record, evidence: found, facts: facts)
        }.sorted { $0.name < $1.name }
    }

    /// Closes over records embedded by value (fields and arrays), not over pointers.
    private func addEmbedded(into evidence: inout [RecordID: Set<Evidence>], facts: FactBase) {
        var pending = Array(evidence.keys)
        while let record = pending.popLast() {
            guard let info = facts.records[record] else { continue }
            let accesses = Set((evidence[record] ?? []).map(\.access))
            for field in info.fields {
                guard case .record(let inner, _) = field.shape else { continue }
                let location = info.location ?? SourceLocation(file: "?", line: 0)
                let holder = info.taggedName ?? facts.typedefs[record]?.sorted().first ?? "anonymous record"
                let added = accesses.map {
                    Evidence(
                        file: location.file, line: location.line, site: "embedded in \(holder).\(field.name)",
                        access: $0)
                }
                if evidence[inner] == nil { pending.append(inner) }
                evidence[inner, default: []].formUnion(added)
            }
        }
    }

    private func describe(_ record: RecordID, evidence: Set<Evidence>, facts: FactBase) -> AnalyzedType? {
        guard let info = facts.records[record], let size = info.size else { return nil }
        let typedefs = (facts.typedefs[record] ?? []).sorted()
        // Records with neither tag nor typedef are parts of their holder's layout, not types of their own.
        guard let name = info.taggedName ?? typedefs.first else { return nil }
        let pointers = pointerFields(of: record, base: 0, path: "", records: facts.records, depth: 0)
        return AnalyzedType(
            name: name, kind: info.kind, size: size, alignment: info.alignment ?? 1,
            pointerOffsets: pointers.map(\.offset), pointerFields: pointers,
            typedefs: typedefs.filter { $0 != name }, evidence: evidence.sorted(),
            isDeclaredInFunction: info.isLocal)
    }

    /// Data pointers in a record, through embedded records and arrays, with
    /// their member designators (`path` names the record being walked), sorted
    /// by offset.
    func pointerFields(
        of record: RecordID, base: Int, path: String, records: [RecordID: RecordInfo], depth: Int
    ) -> [PointerField] {
        guard depth < 16, let info = records[record] else { return [] }
        var out: [PointerField] = []
        for field in info.fields {
            let offset = base + field.offset
            // An anonymous member's fields are named as the holder's own (C's rule).
            let fieldPath = field.name.isEmpty ? path : (path.isEmpty ? field.name : "\(path).\(field.name)")
            switch field.shape {
            case .pointer:
                out.append(PointerField(path: fieldPath, offset: offset))
            case .pointerArray(let count):
                out += (0..<count).map {
                    PointerField(
                        path: "\(fieldPath)[\($0)]", offset: offset + $0 * MemoryLayout<UnsafeRawPointer>.size
                    )
                }
            case .record(let inner, let count):
                let stride = records[inner]?.size ?? 0
                for element in 0..<count {
                    out += pointerFields(
                        of: inner, base: offset + element * stride,
                        path: field.isArray ? "\(fieldPath)[\(element)]" : fieldPath, records: records,
                        depth: depth + 1)
                }
            case .functionPointer, .data:
                break
            }
        }
        return out.sorted { ($0.offset, $0.path) < ($1.offset, $1.path) }
    }
}
