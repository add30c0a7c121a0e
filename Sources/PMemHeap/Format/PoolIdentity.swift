internal import CPMemHeap
import Foundation
@_spi(Primitives) import PMemKit

/// The immutable identity block at offset 0 (`pmh_pool_identity`): magic,
/// version, UUID and geometry, with a checksum over all of it. Written once
/// at creation.
struct PoolIdentity: Equatable {
    var uuid: UUID
    var geometry: PoolGeometry
    /// Features chosen at creation (a version 2 pool); empty in version 1.
    var features: PoolFeatures = []

    /// The seed that ties every checksum of this pool to its UUID.
    var salt: UInt64 {
        let (lo, hi) = uuidWords
        return Checksum.mix(lo ^ Checksum.mix(hi))
    }

    private var uuidWords: (UInt64, UInt64) {
        withUnsafeBytes(of: uuid.uuid) {
            ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    /// Bytes of the block its checksum covers: those before the checksum field.
    private static let checkedBytes = MemoryLayout<pmh_pool_identity>.offset(of: \.checksum)!

    /// Writes the block into `block` (at least `HeapFormat.identitySize` bytes).
    func write(to block: UnsafeMutableRawPointer) {
        let g = geometry
        var identity = pmh_pool_identity()
        identity.magic = HeapFormat.magic
        identity.version = features.isEmpty ? HeapFormat.version : HeapFormat.featuresVersion
        identity.features = features.rawValue
        identity.block_size = UInt32(HeapFormat.identitySize)
        identity.uuid = uuid.uuid
        identity.geometry = pmh_geometry(
            pool_size: UInt64(g.poolSize), slab_size: UInt64(g.slabSize),
            type_table_offset: UInt64(g.typeTableOffset), type_capacity: UInt64(g.typeCapacity),
            slab_directory_offset: UInt64(g.slabDirectoryOffset), slab_count: UInt64(g.slabCount),
            log_offset: UInt64(g.logOffset), lane_count: UInt64(g.laneCount), lane_size: UInt64(g.laneSize),
            slabs_offset: UInt64(g.slabsOffset))
        identity.checksum = checksum(
            of: identity, upTo: Self.checkedBytes, seed: HeapFormat.Seed.identity.rawValue)
        block.storeBytes(of: identity, as: pmh_pool_identity.self)
    }

    /// Reads and validates a block; throws `corrupt` naming the first problem.
    ///
    /// - Parameter fileSize: bytes actually present, so a truncated pool is
    ///   reported instead of faulting later.
    /// The resize slot (`pmh_pool_header.resize`) of a header is read too: a
    /// valid one is the identity an interrupted grow or shrink was installing,
    /// and it is the pool's (the next open rolls it forward).
    static func read(from block: UnsafeRawPointer, fileSize: Int, path: String) throws -> PoolIdentity {
        if let installing = try? decode(block + resizeSlotOffset, fileSize: fileSize, path: path) {
            return installing
        }
        return try decode(block, fileSize: fileSize, path: path)
    }

    /// Where the identity a resize installs is written first.
    static let resizeSlotOffset = MemoryLayout<pmh_pool_header>.offset(of: \.resize)!

    /// Whether the header's resize slot holds anything (a resize was under way).
    static func resizeSlotInUse(_ header: UnsafeRawPointer) -> Bool {
        header.load(fromByteOffset: resizeSlotOffset, as: UInt64.self) != 0
    }

    /// One identity block alone (the block at offset 0, or the resize slot), validated.
    static func decode(_ block: UnsafeRawPointer, fileSize: Int, path: String) throws -> PoolIdentity {
        func corrupt(_ what: String) -> PMemError {
            PMemError(.corrupt, operation: "heap open", detail: "\(path): \(what)")
        }
        let identity = block.loadUnaligned(as: pmh_pool_identity.self)
        guard identity.magic == HeapFormat.magic else {
            throw corrupt("not a PMemHeap pool (bad magic 0x\(String(identity.magic, radix: 16)))")
        }
        guard identity.version == HeapFormat.version || identity.version == HeapFormat.featuresVersion else {
            throw corrupt(
                "pool format version \(identity.version) is not supported (this build reads "
                    + "\(HeapFormat.version) and \(HeapFormat.featuresVersion))")
        }
        guard Checksum.of(block, checkedBytes, seed: HeapFormat.Seed.identity.rawValue) == identity.checksum
        else {
            throw corrupt("header checksum mismatch (the identity block is damaged)")
        }
        let features = PoolFeatures(rawValue: identity.features)
        guard (identity.version == HeapFormat.version) == features.isEmpty else {
            throw corrupt(
                "format version \(identity.version) with features 0x\(String(identity.features, radix: 16)) "
                    + "(the identity block is inconsistent)")
        }
        guard features.isSubset(of: .known) else {
            throw corrupt(
                "the pool uses features this build does not know "
                    + "(0x\(String(features.subtracting(.known).rawValue, radix: 16))); open it with a newer PMemKit"
            )
        }
        let g = identity.geometry
        func value(_ field: UInt64) -> Int { Int(truncatingIfNeeded: field) }
        let geometry = PoolGeometry(
            poolSize: value(g.pool_size), slabSize: value(g.slab_size),
            typeTableOffset: value(g.type_table_offset), typeCapacity: value(g.type_capacity),
            slabDirectoryOffset: value(g.slab_directory_offset), slabCount: value(g.slab_count),
            logOffset: value(g.log_offset), laneCount: value(g.lane_count), laneSize: value(g.lane_size),
            slabsOffset: value(g.slabs_offset))
        try geometry.validate()
        guard geometry.poolSize <= fileSize else {
            throw corrupt("the header says \(geometry.poolSize) bytes but only \(fileSize) are present")
        }
        return PoolIdentity(uuid: UUID(uuid: identity.uuid), geometry: geometry, features: features)
    }
}

/// Features a pool is created with (`pmh_pool_identity.features`).
struct PoolFeatures: OptionSet, Equatable {
    let rawValue: UInt64

    /// Allocation and free persist nothing; an open after a crash traces (`PMH_FEATURE_REACHABILITY`).
    static let reachability = PoolFeatures(rawValue: PMH_FEATURE_REACHABILITY)
    /// Every feature this build reads.
    static let known = PoolFeatures(rawValue: PMH_FEATURES_KNOWN)
}
