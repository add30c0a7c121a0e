internal import CPMemHeap
@_spi(CrashPoints) @_spi(Primitives) import PMemKit

/// A registered type as read from the pool's type table.
struct StoredType: Equatable {
    /// Type id: the entry index plus one (0 marks a free slab).
    var id: UInt32
    var description: TypeDescription
    var layoutHash: UInt64
    var stride: Int
}

/// The persistent type table: fixed 512-byte entries (`pmh_type_entry`), each checksummed,
/// and a self-checked count of entries in use. Registration writes the
/// entry, persists it, and only then publishes it by bumping the count.
enum TypeTable {
    /// Bytes of an entry its checksum covers: those before the checksum field.
    private static let checkedBytes = MemoryLayout<pmh_type_entry>.offset(of: \.checksum)!

    /// The checksum seed of entry `index` (tests craft entries with it).
    static func seed(salt: UInt64, index: Int) -> UInt64 {
        salt ^ HeapFormat.Seed.typeEntry.rawValue ^ UInt64(index)
    }

    /// Reads every entry in use; throws `corrupt` naming the first damaged one.
    static func read(from base: UnsafeRawPointer, geometry: PoolGeometry, salt: UInt64, path: String) throws
        -> [StoredType]
    {
        guard let count = MirroredCounter.typeCount(base, salt: salt), count <= geometry.typeCapacity
        else {
            throw PMemError(
                .corrupt, operation: "heap open", detail: "\(path): the type count word is damaged")
        }
        return try (0..<Int(count)).map { index in
            try readEntry(
                base + geometry.typeTableOffset + index * HeapFormat.typeEntrySize, index: index, salt: salt,
                path: path)
        }
    }

    private static func readEntry(_ p: UnsafeRawPointer, index: Int, salt: UInt64, path: String) throws
        -> StoredType
    {
        func corrupt(_ what: String) -> PMemError {
            PMemError(.corrupt, operation: "heap open", detail: "\(path): type table entry \(index) \(what)")
        }
        let entry = p.load(as: pmh_type_entry.self)
        guard Checksum.of(p, checkedBytes, seed: seed(salt: salt, index: index)) == entry.checksum else {
            throw corrupt("fails its checksum")
        }
        let nameBytes = withUnsafeBytes(of: entry.name) { Array($0.prefix { $0 != 0 }) }
        let name = String(decoding: nameBytes, as: UTF8.self)
        let count = Int(entry.npointers)
        guard count <= HeapFormat.maxPointerFields else { throw corrupt("has \(count) pointer fields") }
        // Range-checked as stored (u64) before it becomes an Int.
        guard entry.size <= UInt64(TypeDescription.maximumSize) else {
            throw corrupt("has size \(entry.size), out of range")
        }
        let offsets = elements(of: entry.pointer_offsets, as: UInt32.self, count: count).map { Int($0) }
        let size = Int(entry.size)
        let description: TypeDescription
        do {
            description = try TypeDescription(
                name: name, size: size, alignment: Int(entry.alignment), pointerOffsets: offsets)
        } catch let error as PMemError {
            throw corrupt("is invalid: \(error.detail)")
        }
        let hash = entry.layout_hash
        let stride = Int(entry.stride)
        guard hash == description.layoutHash, stride == description.stride else {
            throw corrupt("has a layout hash or stride that does not match its fields")
        }
        return StoredType(id: UInt32(index + 1), description: description, layoutHash: hash, stride: stride)
    }

    /// Appends `description` as entry `index` and publishes it (two persists).
    static func append(_ description: TypeDescription, index: Int, pool: PoolMemory, geometry: PoolGeometry) {
        let p = pool.base + geometry.typeTableOffset + index * HeapFormat.typeEntrySize
        var entry = pmh_type_entry()
        withElements(of: &entry.name, as: UInt8.self) { _ = $0.update(fromContentsOf: description.name.utf8) }
        entry.size = UInt64(description.size)
        entry.alignment = UInt32(description.alignment)
        entry.stride = UInt32(description.stride)
        entry.npointers = UInt32(description.pointerOffsets.count)
        entry.layout_hash = description.layoutHash
        withElements(of: &entry.pointer_offsets, as: UInt32.self) {
            _ = $0.update(fromContentsOf: description.pointerOffsets.map { UInt32($0) })
        }
        entry.checksum = checksum(of: entry, upTo: checkedBytes, seed: seed(salt: pool.salt, index: index))
        p.storeBytes(of: entry, as: pmh_type_entry.self)
        pool.persist(p, HeapFormat.typeEntrySize)
        CrashPoints.reach("heap.types.entry-written")
        writeCount(index + 1, pool: pool)
    }

    /// Stores the count of entries in use (two failure-atomic words, see `MirroredCounter`).
    static func writeCount(_ count: Int, pool: PoolMemory) {
        MirroredCounter.writeTypeCount(UInt64(count), pool: pool)
    }
}

/// The slab directory: one self-checked 8-byte word per slab naming its
/// type (0 = free). Assigning a slab to a type is one failure-atomic store.
///
/// A large object's run of slabs: its first slab's word names the type, each
/// following slab's word is `continuation`. Continuation words are written
/// before the first word and cleared after it, so a first word never lacks
/// its continuations, and a continuation no first word covers (left by a
/// crash) is a free slab.
enum SlabDirectory {
    /// The type id a continuation word records.
    static let continuation = UInt32.max

    /// The word that records `typeID` for slab `index`.
    static func encode(typeID: UInt32, index: Int, salt: UInt64) -> UInt64 {
        UInt64(typeID) | (UInt64(check(typeID: typeID, index: index, salt: salt)) << 32)
    }

    /// The type id in a word, or `nil` when the word is damaged. An all-zero word is a free slab.
    static func decode(_ word: UInt64, index: Int, salt: UInt64) -> UInt32? {
        if word == 0 { return 0 }
        let typeID = UInt32(truncatingIfNeeded: word)
        return UInt32(word >> 32) == check(typeID: typeID, index: index, salt: salt) ? typeID : nil
    }

    private static func check(typeID: UInt32, index: Int, salt: UInt64) -> UInt32 {
        UInt32(
            truncatingIfNeeded: Checksum.mix(
                salt ^ HeapFormat.Seed.slabEntry.rawValue ^ (UInt64(index) << 32) ^ UInt64(typeID)))
    }

    /// Frees slab `first` and, for a large object, the `run - 1` continuation
    /// slabs after it: the first word is cleared and made durable before the
    /// continuations, so a crash between leaves orphans, which are free. The
    /// last words are flushed, not fenced: the caller fences (one fence for
    /// many slabs when it frees several).
    static func free(_ first: Int, run: Int, pool: PoolMemory, geometry: PoolGeometry) {
        let words = (pool.base + geometry.slabDirectoryOffset).assumingMemoryBound(to: UInt64.self)
        words[first] = 0
        pool.flush(words + first, 8)
        guard run > 1 else { return }
        pool.drain()
        CrashPoints.reach("heap.slab.first-freed")
        for next in (first + 1)..<(first + run) { words[next] = 0 }
        pool.flush(words + first + 1, (run - 1) * 8)
    }

    /// Every slab's type id; throws `corrupt` for a damaged word or an unknown type.
    static func read(
        from base: UnsafeRawPointer, geometry: PoolGeometry, typeCount: Int, salt: UInt64, path: String
    )
        throws -> [UInt32]
    {
        let words = (base + geometry.slabDirectoryOffset).assumingMemoryBound(to: UInt64.self)
        return try (0..<geometry.slabCount).map { index in
            guard let typeID = decode(words[index], index: index, salt: salt) else {
                throw PMemError(
                    .corrupt, operation: "heap open",
                    detail: "\(path): slab directory entry \(index) is damaged (check bits do not match)")
            }
            guard Int(typeID) <= typeCount || typeID == continuation else {
                throw PMemError(
                    .corrupt, operation: "heap open",
                    detail:
                        "\(path): slab \(index) names type id \(typeID), but only \(typeCount) types are registered"
                )
            }
            return typeID
        }
    }

    /// Resolves large objects' runs in words from `read`: continuation slabs a
    /// large type's first slab covers become 0 in the returned types (walkers
    /// see the object at its first slab) and true in `continued`; continuations
    /// no first slab covers are free. Throws `corrupt` for a first slab whose
    /// run is cut short (damage: the writes never leave that).
    static func resolveRuns(_ raw: [UInt32], slabsPerObject: (UInt32) -> Int, path: String) throws -> (
        types: [UInt32], continued: [Bool]
    ) {
        var types = raw
        var continued = [Bool](repeating: false, count: raw.count)
        var slab = 0
        while slab < raw.count {
            let id = raw[slab]
            if id == continuation {
                types[slab] = 0  // an orphan: free
                slab += 1
                continue
            }
            let run = id == 0 ? 1 : slabsPerObject(id)
            if run > 1 {
                guard slab + run <= raw.count,
                    raw[(slab + 1)..<(slab + run)].allSatisfy({ $0 == continuation })
                else {
                    throw PMemError(
                        .corrupt, operation: "heap open",
                        detail:
                            "\(path): slab \(slab) starts a large object of \(run) slabs whose run is damaged"
                    )
                }
                for next in (slab + 1)..<(slab + run) {
                    types[next] = 0
                    continued[next] = true
                }
            }
            slab += run
        }
        return (types, continued)
    }
}
