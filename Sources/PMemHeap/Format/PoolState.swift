internal import CPMemHeap
@_spi(Primitives) import PMemKit

/// The pool's mutable state, kept in two checksummed slots (`pmh_state_slot`) that are written
/// alternately: an update writes the slot not in use, so a crash mid-write
/// leaves the previous state intact.
struct PoolState: Equatable {
    /// Increases with each update; the valid slot with the higher one is current.
    var generation: UInt64
    /// The last close finished cleanly (recovery can be skipped).
    var cleanShutdown: Bool
    /// Bases that pointers in the pool may have been written for. One entry
    /// when the pool is consistent; more while a relocation is in progress,
    /// the first being the base the relocation moves pointers to.
    var bases: [UInt64]

    /// The base pointers are written for, when the pool is consistent.
    var settledBase: UInt64? { bases.count == 1 ? bases[0] : nil }

    /// Whether a relocation was interrupted and must be finished.
    var relocationPending: Bool { bases.count > 1 }

    /// The most bases a slot holds (`PMH_MAX_BASES` bounds the relocation loop too).
    static var maxBases: Int { Int(PMH_STATE_MAX_BASES) }
    /// Bytes of a slot its checksum covers: those before the checksum field.
    private static let checkedBytes = MemoryLayout<pmh_state_slot>.offset(of: \.checksum)!

    static func seed(salt: UInt64, slot: Int) -> UInt64 {
        salt ^ HeapFormat.Seed.state.rawValue ^ UInt64(slot)
    }

    /// Writes this state into the slot not holding the current one, then persists it.
    func write(into pool: PoolMemory, replacing current: Int) {
        precondition(bases.count <= Self.maxBases, "a state slot holds at most \(Self.maxBases) bases")
        let slot = 1 - current
        var record = pmh_state_slot()
        record.generation = generation
        record.flags = cleanShutdown ? 1 : 0
        record.nbases = UInt32(bases.count)
        withElements(of: &record.bases, as: UInt64.self) { _ = $0.update(fromContentsOf: bases) }
        record.checksum = checksum(
            of: record, upTo: Self.checkedBytes, seed: Self.seed(salt: pool.salt, slot: slot))
        let p = pool.base + HeapFormat.stateSlotOffsets[slot]
        p.storeBytes(of: record, as: pmh_state_slot.self)
        pool.persist(p, HeapFormat.stateSlotSize)
    }

    /// Generations below this are possible (one per open, close or relocation
    /// step); a whole slot holding a larger one is damaged all the same, and
    /// the next update's `generation + 1` would overflow.
    static let generationLimit: UInt64 = 1 << 62

    /// The current state and the slot it is in; `corrupt` when neither slot is valid.
    static func read(from base: UnsafeRawPointer, salt: UInt64, path: String) throws -> (PoolState, slot: Int)
    {
        var best: (PoolState, Int)?
        for slot in 0..<2 {
            let p = base + HeapFormat.stateSlotOffsets[slot]
            let record = p.load(as: pmh_state_slot.self)
            guard Checksum.of(p, checkedBytes, seed: seed(salt: salt, slot: slot)) == record.checksum else {
                continue
            }
            let count = Int(record.nbases)
            guard (1...maxBases).contains(count), record.generation < generationLimit else { continue }
            let state = PoolState(
                generation: record.generation, cleanShutdown: record.flags & 1 != 0,
                bases: elements(of: record.bases, as: UInt64.self, count: count))
            if best == nil || state.generation > best!.0.generation { best = (state, slot) }
        }
        guard let best else {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail:
                    "\(path): both header state slots fail their checksum or hold impossible values (the header is damaged)"
            )
        }
        return best
    }
}

/// A counter kept in two checked words (the type count, the checkpoint).
///
/// One word's 16-bit check lets 1 damage in 65,536 through, and a damaged
/// checkpoint that passes would skip committed records. The mirror is
/// checked under its own offset, so such a damage disagrees with it.
/// Words are written primary first, then the mirror, then persisted
/// together; on disagreement the smaller value is taken: a torn update
/// leaves the older value there (both counters only grow), and for the
/// checkpoint the smaller is always safe (replaying records already applied
/// is idempotent, and no lane is reused before the larger value was durable).
enum MirroredCounter {
    /// The counter at `primary` and `mirror` in the pool at `base`, or `nil`
    /// when neither word holds a checked value. A mirror of zero is absent
    /// (a pool written before mirrors existed): the primary alone counts.
    static func read(_ base: UnsafeRawPointer, primary: Int, mirror: Int, salt: UInt64) -> UInt64? {
        let first = CheckedWord.decode(
            base.load(fromByteOffset: primary, as: UInt64.self), salt: salt, tag: primary)
        let rawMirror = base.load(fromByteOffset: mirror, as: UInt64.self)
        guard rawMirror != 0 else { return first }
        let second = CheckedWord.decode(rawMirror, salt: salt, tag: mirror)
        switch (first, second) {
        case (let a?, let b?): return min(a, b)
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (nil, nil): return nil
        }
    }

    /// The two words holding `value` at `primary` and `mirror`.
    static func words(_ value: UInt64, primary: Int, mirror: Int, salt: UInt64) -> (
        primary: UInt64, mirror: UInt64
    ) {
        (
            CheckedWord.encode(value, salt: salt, tag: primary),
            CheckedWord.encode(value, salt: salt, tag: mirror)
        )
    }

    /// Stores `value` in both words (no flush: the caller persists the line).
    static func store(
        _ value: UInt64, _ base: UnsafeMutableRawPointer, primary: Int, mirror: Int, salt: UInt64
    ) {
        let stored = words(value, primary: primary, mirror: mirror, salt: salt)
        base.storeBytes(of: stored.primary, toByteOffset: primary, as: UInt64.self)
        base.storeBytes(of: stored.mirror, toByteOffset: mirror, as: UInt64.self)
    }

    /// Persists both words of a counter (one cache line).
    static func persist(_ pool: PoolMemory, primary: Int, mirror: Int) {
        let start = min(primary, mirror)
        pool.persist(pool.base + start, max(primary, mirror) + 8 - start)
    }

    /// The checkpoint of the pool at `base`.
    static func checkpoint(_ base: UnsafeRawPointer, salt: UInt64) -> UInt64? {
        read(
            base, primary: HeapFormat.checkpointOffset, mirror: HeapFormat.checkpointMirrorOffset, salt: salt)
    }

    /// The registered type count of the pool at `base`.
    static func typeCount(_ base: UnsafeRawPointer, salt: UInt64) -> UInt64? {
        read(base, primary: HeapFormat.typeCountOffset, mirror: HeapFormat.typeCountMirrorOffset, salt: salt)
    }

    /// Stores and persists the checkpoint.
    static func writeCheckpoint(_ value: UInt64, pool: PoolMemory) {
        store(
            value, pool.base, primary: HeapFormat.checkpointOffset, mirror: HeapFormat.checkpointMirrorOffset,
            salt: pool.salt)
        persist(pool, primary: HeapFormat.checkpointOffset, mirror: HeapFormat.checkpointMirrorOffset)
    }

    /// Stores and persists the type count.
    static func writeTypeCount(_ value: UInt64, pool: PoolMemory) {
        store(
            value, pool.base, primary: HeapFormat.typeCountOffset, mirror: HeapFormat.typeCountMirrorOffset,
            salt: pool.salt)
        persist(pool, primary: HeapFormat.typeCountOffset, mirror: HeapFormat.typeCountMirrorOffset)
    }
}

/// An 8-byte word whose top 16 bits check the low 48: updated with one
/// aligned store (failure-atomic), and still able to tell damage from a value.
enum CheckedWord {
    static let valueMask: UInt64 = (1 << 48) - 1

    /// The word holding `value` (below 2^48) for the field at `tag`.
    static func encode(_ value: UInt64, salt: UInt64, tag: Int) -> UInt64 {
        value | (check(value, salt: salt, tag: tag) << 48)
    }

    /// The value a word holds, or `nil` when its check bits do not match.
    static func decode(_ word: UInt64, salt: UInt64, tag: Int) -> UInt64? {
        let value = word & valueMask
        return word >> 48 == check(value, salt: salt, tag: tag) ? value : nil
    }

    private static func check(_ value: UInt64, salt: UInt64, tag: Int) -> UInt64 {
        Checksum.mix(value ^ salt ^ HeapFormat.Seed.counter.rawValue ^ UInt64(tag)) >> 48
    }
}
