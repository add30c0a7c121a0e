@_spi(Primitives) import PMemKit

/// The pool's mutable state, kept in two checksummed slots that are written
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

    private enum Field {
        static let generation = 0
        static let flags = 8
        static let baseCount = 12
        static let bases = 16
        static let checksum = 56
    }
    /// The most bases a slot holds (`PMH_MAX_BASES` bounds the relocation loop too).
    static let maxBases = 5

    /// Writes this state into the slot not holding the current one, then persists it.
    func write(into pool: PoolMemory, replacing current: Int) {
        let slot = 1 - current
        let p = pool.base + HeapFormat.stateSlotOffsets[slot]
        p.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.stateSlotSize)
        p.storeBytes(of: generation, toByteOffset: Field.generation, as: UInt64.self)
        p.storeBytes(of: cleanShutdown ? 1 : 0, toByteOffset: Field.flags, as: UInt32.self)
        p.storeBytes(of: UInt32(bases.count), toByteOffset: Field.baseCount, as: UInt32.self)
        for (i, base) in bases.enumerated() {
            p.storeBytes(of: base, toByteOffset: Field.bases + 8 * i, as: UInt64.self)
        }
        let sum = Checksum.of(
            p, Field.checksum, seed: pool.salt ^ HeapFormat.Seed.state.rawValue ^ UInt64(slot))
        p.storeBytes(of: sum, toByteOffset: Field.checksum, as: UInt64.self)
        pool.persist(p, HeapFormat.stateSlotSize)
    }

    /// The current state and the slot it is in; `corrupt` when neither slot is valid.
    static func read(from base: UnsafeRawPointer, salt: UInt64, path: String) throws -> (PoolState, slot: Int)
    {
        var best: (PoolState, Int)?
        for slot in 0..<2 {
            let p = base + HeapFormat.stateSlotOffsets[slot]
            let sum = p.load(fromByteOffset: Field.checksum, as: UInt64.self)
            guard
                Checksum.of(p, Field.checksum, seed: salt ^ HeapFormat.Seed.state.rawValue ^ UInt64(slot))
                    == sum
            else { continue }
            let count = Int(p.load(fromByteOffset: Field.baseCount, as: UInt32.self))
            guard (1...maxBases).contains(count) else { continue }
            let state = PoolState(
                generation: p.load(fromByteOffset: Field.generation, as: UInt64.self),
                cleanShutdown: p.load(fromByteOffset: Field.flags, as: UInt32.self) & 1 != 0,
                bases: (0..<count).map { p.load(fromByteOffset: Field.bases + 8 * $0, as: UInt64.self) })
            if best == nil || state.generation > best!.0.generation { best = (state, slot) }
        }
        guard let best else {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail: "\(path): both header state slots fail their checksum (the header is damaged)")
        }
        return best
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
