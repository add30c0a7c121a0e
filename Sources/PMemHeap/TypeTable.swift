@_spi(Primitives) import PMemKit

/// A registered type as read from the pool's type table.
struct StoredType: Equatable {
    /// Type id: the entry index plus one (0 marks a free slab).
    var id: UInt32
    var description: TypeDescription
    var layoutHash: UInt64
    var stride: Int
}

/// The persistent type table: fixed 512-byte entries, each checksummed,
/// and a self-checked count of entries in use. Registration writes the
/// entry, persists it, and only then publishes it by bumping the count.
enum TypeTable {
    private enum Field {
        static let name = 0
        static let size = 128
        static let alignment = 136
        static let stride = 140
        static let pointerCount = 144
        static let layoutHash = 152
        static let offsets = 160
        static let checksum = HeapFormat.typeEntrySize - 8
    }

    /// Reads every entry in use; throws `corrupt` naming the first damaged one.
    static func read(from base: UnsafeRawPointer, geometry: PoolGeometry, salt: UInt64, path: String) throws
        -> [StoredType]
    {
        let word = base.load(fromByteOffset: HeapFormat.typeCountOffset, as: UInt64.self)
        guard let count = CheckedWord.decode(word, salt: salt, tag: HeapFormat.typeCountOffset),
            count <= geometry.typeCapacity
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
        let sum = p.load(fromByteOffset: Field.checksum, as: UInt64.self)
        guard
            Checksum.of(p, Field.checksum, seed: salt ^ HeapFormat.Seed.typeEntry.rawValue ^ UInt64(index))
                == sum
        else {
            throw corrupt("fails its checksum")
        }
        let nameBytes = UnsafeRawBufferPointer(start: p, count: HeapFormat.typeNameField).prefix { $0 != 0 }
        let name = String(decoding: nameBytes, as: UTF8.self)
        let count = Int(p.load(fromByteOffset: Field.pointerCount, as: UInt32.self))
        guard count <= HeapFormat.maxPointerFields else { throw corrupt("has \(count) pointer fields") }
        let offsets = (0..<count).map { Int(p.load(fromByteOffset: Field.offsets + 4 * $0, as: UInt32.self)) }
        let description: TypeDescription
        do {
            description = try TypeDescription(
                name: name, size: Int(p.load(fromByteOffset: Field.size, as: UInt64.self)),
                alignment: Int(p.load(fromByteOffset: Field.alignment, as: UInt32.self)),
                pointerOffsets: offsets)
        } catch let error as PMemError {
            throw corrupt("is invalid: \(error.detail)")
        }
        let hash = p.load(fromByteOffset: Field.layoutHash, as: UInt64.self)
        let stride = Int(p.load(fromByteOffset: Field.stride, as: UInt32.self))
        guard hash == description.layoutHash, stride == description.stride else {
            throw corrupt("has a layout hash or stride that does not match its fields")
        }
        return StoredType(id: UInt32(index + 1), description: description, layoutHash: hash, stride: stride)
    }

    /// Appends `description` as entry `index` and publishes it (two persists).
    static func append(_ description: TypeDescription, index: Int, pool: PoolMemory, geometry: PoolGeometry) {
        let p = pool.base + geometry.typeTableOffset + index * HeapFormat.typeEntrySize
        p.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.typeEntrySize)
        for (i, byte) in description.name.utf8.enumerated() {
            p.storeBytes(of: byte, toByteOffset: Field.name + i, as: UInt8.self)
        }
        p.storeBytes(of: UInt64(description.size), toByteOffset: Field.size, as: UInt64.self)
        p.storeBytes(of: UInt32(description.alignment), toByteOffset: Field.alignment, as: UInt32.self)
        p.storeBytes(of: UInt32(description.stride), toByteOffset: Field.stride, as: UInt32.self)
        p.storeBytes(
            of: UInt32(description.pointerOffsets.count), toByteOffset: Field.pointerCount, as: UInt32.self)
        p.storeBytes(of: description.layoutHash, toByteOffset: Field.layoutHash, as: UInt64.self)
        for (i, offset) in description.pointerOffsets.enumerated() {
            p.storeBytes(of: UInt32(offset), toByteOffset: Field.offsets + 4 * i, as: UInt32.self)
        }
        let sum = Checksum.of(
            p, Field.checksum, seed: pool.salt ^ HeapFormat.Seed.typeEntry.rawValue ^ UInt64(index))
        p.storeBytes(of: sum, toByteOffset: Field.checksum, as: UInt64.self)
        pool.persist(p, HeapFormat.typeEntrySize)
        CrashPoints.reach("type entry written, count not yet bumped")
        writeCount(index + 1, pool: pool)
    }

    /// Stores the count of entries in use (one failure-atomic word).
    static func writeCount(_ count: Int, pool: PoolMemory) {
        let word = CheckedWord.encode(UInt64(count), salt: pool.salt, tag: HeapFormat.typeCountOffset)
        pool.base.storeBytes(of: word, toByteOffset: HeapFormat.typeCountOffset, as: UInt64.self)
        pool.persist(pool.base + HeapFormat.typeCountOffset, 8)
    }
}

/// The slab directory: one self-checked 8-byte word per slab naming its
/// type (0 = free). Assigning a slab to a type is one failure-atomic store.
enum SlabDirectory {
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
            guard Int(typeID) <= typeCount else {
                throw PMemError(
                    .corrupt, operation: "heap open",
                    detail:
                        "\(path): slab \(index) names type id \(typeID), but only \(typeCount) types are registered"
                )
            }
            return typeID
        }
    }
}
