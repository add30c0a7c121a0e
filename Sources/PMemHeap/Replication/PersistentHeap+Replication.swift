import Foundation
@_spi(Primitives) import PMemKit

// The heap's entry points for replication (PMemReplication). A committed
// transaction's redo record does not carry everything a copy of the pool
// needs: a new object's initial value is written in place, and slab
// assignments and type registrations go straight to the metadata. These
// functions name those bytes as pool writes (an offset and the bytes), and
// let a replica apply redo records to its copy of the pool.

/// What a replica already holds of a pool's metadata: which slabs' directory
/// entries and how many type table entries have been shipped. The primary
/// keeps one per replication stream.
package struct ReplicatedLayout: Sendable, Equatable {
    private var slabs: [UInt64]
    /// Type table entries shipped (ids 1 through `types`).
    package private(set) var types: Int

    /// Nothing shipped yet, for a pool of `slabCount` slabs.
    package init(slabCount: Int) {
        slabs = Array(repeating: 0, count: (slabCount + 63) / 64)
        types = 0
    }

    /// Whether slab `index`'s directory entry was shipped.
    package func hasSlab(_ index: Int) -> Bool {
        slabs[index / 64] & (UInt64(1) << UInt64(index % 64)) != 0
    }

    mutating func addSlab(_ index: Int) {
        slabs[index / 64] |= UInt64(1) << UInt64(index % 64)
    }

    mutating func setTypes(_ count: Int) { types = count }
}

extension PersistentHeap {
    /// The sequence number of the latest committed transaction (after
    /// `open`, the newest one recovery found).
    public var lastCommittedSequence: UInt64 { log.lastSequence }

    /// Calls `body(offset, bytes)` with writes that rebuild the pool's
    /// current state on a zero-filled file of the pool's size: the header,
    /// the type table entries in use, the slab directory and every assigned
    /// slab (redo log lanes are left zero, so nothing is replayed there).
    /// `layout` then records every slab and type as shipped.
    ///
    /// No transaction may run meanwhile (call it before they start).
    package func forEachBaselineWrite(
        layout: inout ReplicatedLayout, _ body: (Int, UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        let g = geometry
        let base = UnsafeRawPointer(pool.base)
        try body(0, UnsafeRawBufferPointer(start: base, count: HeapFormat.headerSize))
        let types = persistentTypeCount()
        if types > 0 {
            try body(
                g.typeTableOffset,
                UnsafeRawBufferPointer(
                    start: base + g.typeTableOffset, count: types * HeapFormat.typeEntrySize))
        }
        layout.setTypes(types)
        try body(
            g.slabDirectoryOffset,
            UnsafeRawBufferPointer(start: base + g.slabDirectoryOffset, count: g.slabCount * 8))
        for slab in 0..<g.slabCount
        where Atomic64.loadAcquire(allocator.slabTypes + slab) != 0 || allocator.isContinuation(slab) {
            layout.addSlab(slab)
            try body(
                g.slabOffset(slab),
                UnsafeRawBufferPointer(start: base + g.slabOffset(slab), count: g.slabSize))
        }
    }

    /// Calls `body(offset, bytes)` with the in-place writes `transaction`
    /// depends on that its record does not carry, in the order a replica
    /// applies them before the record: type table entries and the type count
    /// (for types `layout` lacks) and directory entries of slabs it allocates
    /// in for the first time. (A new object's initial bytes are in the
    /// record itself: see `Transaction.logInitialBytes`.) Call it from a heap
    /// observer.
    package func forEachInPlaceWrite(
        of transaction: CommittedTransaction, layout: inout ReplicatedLayout,
        _ body: (Int, UnsafeRawBufferPointer) -> Void
    ) {
        let g = geometry
        let base = UnsafeRawPointer(pool.base)
        // This heap sealed the record a moment ago (the commit path): its
        // entries are walked without the checks a record read from media gets.
        let record = transaction.recordBytes.baseAddress!
        RedoEntryCodec.forEach(
            from: RedoRecord.entries(of: record), count: Int(RedoRecord.header(record).nentries)
        ) {
            entry in
            let offset = entry.offset
            guard entry.kind == .setBits, offset >= g.slabsOffset else { return }
            let slab = (offset - g.slabsOffset) / g.slabSize
            // Most transactions allocate in slabs replicas already have: one bit test, no type lookup.
            guard !layout.hasSlab(slab) else { return }
            let typeID = Int(Atomic64.loadAcquire(allocator.slabTypes + slab))
            guard allocator.types[typeID] != nil else { return }
            if typeID > layout.types {
                let count = persistentTypeCount()
                let entries = base + g.typeTableOffset + layout.types * HeapFormat.typeEntrySize
                body(
                    g.typeTableOffset + layout.types * HeapFormat.typeEntrySize,
                    UnsafeRawBufferPointer(
                        start: entries, count: (count - layout.types) * HeapFormat.typeEntrySize))
                // Both words of the mirrored count (MirroredCounter).
                for offset in [HeapFormat.typeCountOffset, HeapFormat.typeCountMirrorOffset] {
                    body(offset, UnsafeRawBufferPointer(start: base + offset, count: 8))
                }
                layout.setTypes(count)
            }
            // A large object's run: its continuation words too, each slab shipped as in the baseline.
            // Continuations before the first word, as the primary wrote them.
            let run = allocator.types[typeID]!.layout.slabsPerObject
            let entry = g.slabDirectoryOffset + slab * 8
            if run > 1 {
                body(entry + 8, UnsafeRawBufferPointer(start: base + entry + 8, count: 8 * (run - 1)))
            }
            body(entry, UnsafeRawBufferPointer(start: base + entry, count: 8))
            for next in slab..<(slab + run) { layout.addSlab(next) }
        }
    }

    /// Registered types as the pool's count word says (entries are persisted before the count).
    private func persistentTypeCount() -> Int {
        Int(MirroredCounter.typeCount(pool.base, salt: pool.salt) ?? 0)
    }
}

/// A replica's copy of a pool, not open as a heap: the target of replicated
/// redo records. Its header must already be in place (a baseline wrote it).
package final class ReplicaPoolImage {
    private let pool: PoolMemory
    private let bounds: RedoRecord.Bounds
    /// The pool's UUID (the same as the primary's: records validate against it).
    package let uuid: UUID
    /// The pool's geometry.
    package let geometry: PoolGeometry

    /// Reads and validates the identity block of the pool in `mapping`.
    package init(mapping: PMemMapping) throws {
        let identity = try PoolIdentity.read(from: mapping.base, fileSize: mapping.size, path: mapping.path)
        pool = PoolMemory(mapping: mapping, salt: identity.salt)
        bounds = RedoRecord.Bounds(geometry: identity.geometry)
        uuid = identity.uuid
        geometry = identity.geometry
    }

    /// The checkpoint words (primary and mirror, each with its offset) that
    /// say every transaction through `transaction` is applied in place, or
    /// none when the copy's own checkpoint already says so. A copy keeps the
    /// checkpoint its baseline carried (records move it on the primary only),
    /// so a pool promoted from it would number its next transaction after
    /// that one, reusing numbers its primary had already committed.
    package func checkpointWords(through transaction: UInt64) -> [(offset: Int, word: UInt64)] {
        if let current = MirroredCounter.checkpoint(pool.base, salt: pool.salt), current >= transaction {
            return []
        }
        let (primary, mirror) = (HeapFormat.checkpointOffset, HeapFormat.checkpointMirrorOffset)
        let stored = MirroredCounter.words(transaction, primary: primary, mirror: mirror, salt: pool.salt)
        return [(primary, stored.primary), (mirror, stored.mirror)]
    }

    /// Checks a redo record as the primary's heap sealed it (length,
    /// checksum under this pool's identity, every entry well formed and
    /// inside the root line or the slabs) and returns its sequence number;
    /// throws `corrupt`, having written nothing, when any check fails.
    @discardableResult
    package func validate(record: UnsafeRawBufferPointer) throws -> UInt64 {
        try validated(record: record).sequence
    }

    /// Checks a redo record (see `validate`) and returns it in checked form,
    /// which `apply(_:touched:)` applies without checking it again.
    package func validated(record: UnsafeRawBufferPointer) throws -> ValidatedRedoRecord {
        func corrupt(_ why: String) -> PMemError {
            PMemError(.corrupt, operation: "replica apply", detail: "redo record \(why)")
        }
        guard let start = record.baseAddress, record.count >= HeapFormat.recordHeaderSize,
            Int(bitPattern: start) % 8 == 0
        else { throw corrupt("is shorter than its header or misaligned") }
        let header = RedoRecord.header(start)
        guard Int(header.length) == record.count, record.count % 8 == 0 else {
            throw corrupt("length \(header.length) does not match the \(record.count) bytes received")
        }
        guard RedoRecord.isSealed(start, header: header, salt: pool.salt) else {
            throw corrupt("fails its checksum (damaged, or from another pool)")
        }
        guard RedoRecord.validateEntries(start, bounds: bounds) else {
            throw corrupt("has an entry that is malformed or outside the heap's objects")
        }
        return ValidatedRedoRecord(start: start, sequence: header.seq, image: ObjectIdentifier(self))
    }

    /// Validates a redo record (see `validate`) and stores its changes in
    /// place without flushing them: `touched(offset, length)` names each
    /// range written, for the caller to flush (once per line, however many
    /// records of a batch wrote it) and fence before counting it durable.
    /// Applying a record twice, or a run of records again from any of them,
    /// leaves the same bytes.
    package func apply(record: UnsafeRawBufferPointer, touched: (Int, Int) -> Void) throws {
        apply(try validated(record: record), touched: touched)
    }

    /// Stores the changes of a record this image validated (see
    /// `apply(record:touched:)`); its bytes must not have changed since.
    package func apply(_ record: ValidatedRedoRecord, touched: (Int, Int) -> Void) {
        precondition(record.image == ObjectIdentifier(self), "a redo record validated by another pool image")
        let base = pool.base
        RedoRecord.forEachEntry(record.start, bounds: bounds) { entry in
            touched(entry.offset, entry.apply(to: base).length)
        }
    }
}

/// A redo record that passed `ReplicaPoolImage.validated(record:)`: checked
/// once, applied from this form (the bytes it points at are the caller's).
package struct ValidatedRedoRecord {
    let start: UnsafeRawPointer
    /// The record's commit sequence number.
    package let sequence: UInt64
    /// The image that validated it (bounds and salt are that pool's).
    let image: ObjectIdentifier
}
