extension FactBase {
    /// Adds the facts of a later translation unit, collected on their own.
    ///
    /// What each unit keys by USR keeps the first unit's entry, as one collector
    /// walking the units in order did: functions defined in a shared header,
    /// place kinds. A record keeps the first complete layout (a unit that only
    /// declared it, `struct hdr;`, does not hide another's definition). Facts
    /// that several units share (a header's inline function walked by each) are
    /// repeated, which the solver's sets absorb.
    mutating func absorb(_ other: FactBase) {
        flows += other.flows
        indirectFlows += other.indirectFlows
        stores += other.stores
        copies += other.copies
        overlays += other.overlays
        fieldAssignments += other.fieldAssignments
        sites += other.sites
        mappings.merge(other.mappings) { first, _ in first }
        lockedDescriptors += other.lockedDescriptors
        calls += other.calls
        functions.merge(other.functions) { first, _ in first }
        records.merge(other.records) { first, later in first.size == nil && later.size != nil ? later : first
        }
        placeKinds.merge(other.placeKinds) { first, _ in first }
        typedefs.merge(other.typedefs) { $0.union($1) }
        for template in other.templatesWithIO
        where !templatesWithIO.contains(where: { $0.usr == template.usr }) {
            templatesWithIO.append(template)
        }
        instantiatedTemplates.formUnion(other.instantiatedTemplates)
    }
}
