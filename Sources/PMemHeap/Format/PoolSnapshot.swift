import PMemKit

/// Everything read and validated from a pool before anything is written:
/// identity, state, checkpoint, type table, slab directory, bitmaps.
///
/// Opening (and checking) a pool starts here, on a read-only mapping, so a
/// damaged pool is reported with nothing written to it.
struct PoolSnapshot {
    var identity: PoolIdentity
    var state: PoolState
    var stateSlot: Int
    var checkpoint: UInt64
    var types: [StoredType]
    var slabTypes: [UInt32]
    /// Slabs that continue a large object begun in an earlier slab (0 in `slabTypes`).
    var continued: [Bool]
    var rootAddress: UInt64
    var rootType: UInt32

    var geometry: PoolGeometry { identity.geometry }

    /// Reads and validates the pool at `base` (`fileSize` bytes mapped).
    static func load(base: UnsafeRawPointer, fileSize: Int, path: String) throws -> PoolSnapshot {
        guard fileSize >= HeapFormat.headerSize else {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail: "\(path): \(fileSize) bytes is too small to be a heap pool")
        }
        let identity = try PoolIdentity.read(from: base, fileSize: fileSize, path: path)
        let salt = identity.salt
        let geometry = identity.geometry
        let (state, slot) = try PoolState.read(from: base, salt: salt, path: path)
        guard let checkpoint = MirroredCounter.checkpoint(base, salt: salt) else {
            throw PMemError(
                .corrupt, operation: "heap open", detail: "\(path): the checkpoint word is damaged")
        }
        let types = try TypeTable.read(from: base, geometry: geometry, salt: salt, path: path)
        for type in types
        where SlabLayout(
            stride: type.stride, alignment: type.description.alignment, slabSize: geometry.slabSize) == nil
        {
            throw PMemError(
                .corrupt, operation: "heap open",
                detail:
                    "\(path): type '\(type.description.name)' is larger than any pool (\(type.stride) bytes)")
        }
        let (slabTypes, continued) = try directory(
            base: base, geometry: geometry, types: types, salt: salt, path: path)
        try checkBitmaps(base: base, geometry: geometry, types: types, slabTypes: slabTypes, path: path)
        let (rootAddress, rootType) = HeapFormat.rootLine(at: base)
        guard rootType <= UInt64(types.count), (rootAddress == 0) == (rootType == 0) else {
            throw PMemError(.corrupt, operation: "heap open", detail: "\(path): the root line is damaged")
        }
        return PoolSnapshot(
            identity: identity, state: state, stateSlot: slot, checkpoint: checkpoint, types: types,
            slabTypes: slabTypes, continued: continued, rootAddress: rootAddress, rootType: UInt32(rootType))
    }

    /// The slab directory with large objects' runs resolved (`SlabDirectory.resolveRuns`).
    static func directory(
        base: UnsafeRawPointer, geometry: PoolGeometry, types: [StoredType], salt: UInt64, path: String
    ) throws -> (types: [UInt32], continued: [Bool]) {
        let raw = try SlabDirectory.read(
            from: base, geometry: geometry, typeCount: types.count, salt: salt, path: path)
        let runs = types.map {
            SlabLayout(stride: $0.stride, alignment: $0.description.alignment, slabSize: geometry.slabSize)!
                .slabsPerObject
        }
        return try SlabDirectory.resolveRuns(raw, slabsPerObject: { runs[Int($0) - 1] }, path: path)
    }

    /// Reads the slab directory again (after recovery freed slabs).
    mutating func reloadDirectory(base: UnsafeRawPointer, path: String) throws {
        (slabTypes, continued) = try Self.directory(
            base: base, geometry: geometry, types: types, salt: identity.salt, path: path)
    }

    /// Slabs in use: typed, or continuing a large object.
    var slabsInUse: Int { zip(slabTypes, continued).filter { $0 != 0 || $1 }.count }

    /// A slab bitmap with bits past its last slot is damaged.
    private static func checkBitmaps(
        base: UnsafeRawPointer, geometry: PoolGeometry, types: [StoredType], slabTypes: [UInt32], path: String
    ) throws {
        let layouts = types.map {
            SlabLayout(stride: $0.stride, alignment: $0.description.alignment, slabSize: geometry.slabSize)!
        }
        for (slab, typeID) in slabTypes.enumerated() where typeID != 0 {
            let layout = layouts[Int(typeID) - 1]
            let last = layout.bitmapWords - 1
            let word = base.load(fromByteOffset: geometry.slabOffset(slab) + last * 8, as: UInt64.self)
            guard word & layout.invalidBits(word: last) == 0 else {
                throw PMemError(
                    .corrupt, operation: "heap open",
                    detail:
                        "\(path): slab \(slab) has allocation bits set past its last slot (bitmap damaged)")
            }
        }
    }

    /// The stored types with their slab layouts, as the walks (relocation, trace) use them.
    func typeRuntimes() -> [TypeRuntime] {
        types.map {
            TypeRuntime(
                id: $0.id, description: $0.description,
                layout: SlabLayout(
                    stride: $0.stride, alignment: $0.description.alignment, slabSize: geometry.slabSize)!)
        }
    }

    /// The stored type named like `description`, after checking it has the same layout.
    ///
    /// Throws `invalidArgument` naming the type and both layouts when they differ.
    func checkCompatible(_ description: TypeDescription) throws {
        guard let stored = types.first(where: { $0.description.name == description.name }) else { return }
        guard stored.layoutHash != description.layoutHash else { return }
        let s = stored.description
        throw PMemError(
            .invalidArgument, operation: "heap open",
            detail:
                "type '\(description.name)' changed: the pool stores size \(s.size), alignment \(s.alignment), "
                + "pointer offsets \(s.pointerOffsets); the program declares size \(description.size), "
                + "alignment \(description.alignment), pointer offsets \(description.pointerOffsets)")
    }
}
