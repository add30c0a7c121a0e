import PMemKit

/// Where each region of a pool lies: header, type table, slab directory,
/// redo log lanes and slabs. Fixed at creation and stored in the identity block.
public struct PoolGeometry: Codable, Sendable, Equatable {
    /// Bytes of the whole pool.
    public var poolSize: Int
    /// Bytes of one slab.
    public var slabSize: Int
    /// Offset of the type table.
    public var typeTableOffset: Int
    /// Entries the type table holds.
    public var typeCapacity: Int
    /// Offset of the slab directory (8 bytes per slab).
    public var slabDirectoryOffset: Int
    /// Number of slabs.
    public var slabCount: Int
    /// Offset of the redo log.
    public var logOffset: Int
    /// Lanes in the redo log; a transaction writes into one lane.
    public var laneCount: Int
    /// Bytes of one lane, which bounds one transaction's redo records.
    public var laneSize: Int
    /// Offset of the first slab.
    public var slabsOffset: Int

    /// The geometry of a new pool of `poolSize` bytes.
    ///
    /// - Parameters:
    ///   - slabSize: bytes per slab (a power of two, 4 KiB to 64 MiB).
    ///   - logSize: bytes of redo log; by default 1/32 of the pool, between 256 KiB and 64 MiB.
    ///   - maxSize: the size the pool may grow to (`PersistentHeap.grow`): the slab
    ///     directory gets a word for each slab of it. By default 16 times the
    ///     pool, at most 1 TiB more than it (the directory costs 1/8192 of the
    ///     bytes it covers with 64 KiB slabs).
    ///   - typeCapacity: entries of the type table (1 to 4096); by default one per
    ///     MiB of the pool, from 128 to 4096 (512 bytes each).
    static func plan(
        poolSize: Int, slabSize: Int?, logSize: Int?, maxSize: Int? = nil,
        typeCapacity wantedTypes: Int? = nil
    ) throws -> PoolGeometry {
        // Bounded first, so that no sum or product below can overflow.
        guard poolSize > 0, poolSize <= maximumValue else {
            throw PMemError(
                .invalidArgument, operation: "heap create",
                detail: "pool size \(poolSize) is out of range (1 byte to 64T)")
        }
        if let logSize, logSize < 0 || logSize > poolSize {
            throw PMemError(
                .invalidArgument, operation: "heap create",
                detail: "log size \(logSize) is out of range (at most the pool size, \(poolSize))")
        }
        if let maxSize, maxSize < poolSize || maxSize > maximumValue {
            throw PMemError(
                .invalidArgument, operation: "heap create",
                detail: "maximum size \(maxSize) is out of range (from the pool size, \(poolSize), to 64T)")
        }
        let growTo =
            maxSize
            ?? min(
                poolSize.multipliedReportingOverflow(by: 16).partialValue, poolSize + (1 << 40), maximumValue)
        let slab = slabSize ?? HeapFormat.defaultSlabSize
        guard slab >= 4096, slab <= 64 << 20, slab & (slab - 1) == 0 else {
            throw PMemError(
                .invalidArgument, operation: "heap create",
                detail: "slab size \(slab) must be a power of two between 4K and 64M")
        }
        let lanes = HeapFormat.defaultLaneCount
        let wantedLog = logSize ?? min(max(poolSize / 32, 256 << 10), 64 << 20)
        let laneSize = roundUp(max(wantedLog / lanes, 4096), 4096)
        let typeTableOffset = HeapFormat.headerSize
        if let wantedTypes, !(1...HeapFormat.maximumTypeCapacity).contains(wantedTypes) {
            throw PMemError(
                .invalidArgument, operation: "heap create",
                detail:
                    "type capacity \(wantedTypes) is out of range (1 to \(HeapFormat.maximumTypeCapacity))")
        }
        let typeCapacity =
            wantedTypes
            ?? min(HeapFormat.maximumTypeCapacity, max(HeapFormat.defaultTypeCapacity, poolSize >> 20))
        let directoryOffset = typeTableOffset + typeCapacity * HeapFormat.typeEntrySize
        let logOffset = roundUp(directoryOffset + (max(growTo, poolSize) / slab) * 8, 4096)
        let slabsOffset = roundUp(logOffset + lanes * laneSize, min(slab, 64 << 10))
        let slabCount = poolSize > slabsOffset ? (poolSize - slabsOffset) / slab : 0
        guard slabCount >= 1 else {
            throw PMemError(
                .invalidArgument, operation: "heap create",
                detail: "a pool of \(poolSize) bytes has no room for a slab after its metadata and "
                    + "\(lanes * laneSize)-byte log; give at least \(slabsOffset + slab) bytes")
        }
        let geometry = PoolGeometry(
            poolSize: poolSize, slabSize: slab, typeTableOffset: typeTableOffset, typeCapacity: typeCapacity,
            slabDirectoryOffset: directoryOffset, slabCount: slabCount, logOffset: logOffset,
            laneCount: lanes, laneSize: laneSize, slabsOffset: slabsOffset)
        try geometry.validate()
        return geometry
    }

    /// Checks that the regions are ordered, aligned and inside the pool.
    ///
    /// Read from media, a geometry is untrusted: this is what keeps a corrupt
    /// identity block from sending any later access outside the mapping.
    func validate() throws {
        func bad(_ what: String) -> PMemError {
            PMemError(.corrupt, operation: "heap open", detail: "pool geometry is inconsistent: \(what)")
        }
        let limit = Self.maximumValue
        for (name, value) in [
            ("pool size", poolSize), ("slab size", slabSize), ("type table offset", typeTableOffset),
            ("type capacity", typeCapacity), ("slab directory offset", slabDirectoryOffset),
            ("slab count", slabCount), ("log offset", logOffset), ("lane count", laneCount),
            ("lane size", laneSize), ("slabs offset", slabsOffset),
        ] where value <= 0 || value > limit {
            throw bad("\(name) \(value) is out of range")
        }
        guard slabSize >= 4096, slabSize & (slabSize - 1) == 0 else { throw bad("slab size \(slabSize)") }
        guard typeTableOffset >= HeapFormat.headerSize, typeCapacity <= HeapFormat.maximumTypeCapacity else {
            throw bad("type table at \(typeTableOffset) with \(typeCapacity) entries")
        }
        guard slabDirectoryOffset >= typeTableOffset + typeCapacity * HeapFormat.typeEntrySize else {
            throw bad("slab directory overlaps the type table")
        }
        guard logOffset >= slabDirectoryOffset + slabCount * 8, logOffset % 4096 == 0 else {
            throw bad("redo log overlaps the slab directory")
        }
        guard laneCount <= 64, laneSize % 4096 == 0 else {
            throw bad("\(laneCount) lanes of \(laneSize) bytes")
        }
        guard slabsOffset >= logOffset + laneCount * laneSize, slabsOffset % 4096 == 0 else {
            throw bad("slabs overlap the redo log")
        }
        // Divided, not multiplied: slabCount * slabSize may overflow (2^43 * 2^46).
        guard slabsOffset <= poolSize, slabCount <= (poolSize - slabsOffset) / slabSize else {
            throw bad("\(slabCount) slabs of \(slabSize) bytes do not fit in \(poolSize) bytes")
        }
    }

    /// The largest size, offset or count a geometry holds (64 TiB): with every
    /// field at most this, sums of a few of them, and products with small
    /// counts, stay far from `Int.max`.
    static let maximumValue = 1 << 46

    /// Offset of slab `index`.
    @inline(__always) func slabOffset(_ index: Int) -> Int { slabsOffset + index * slabSize }

    /// Offset of lane `index`.
    @inline(__always) func laneOffset(_ index: Int) -> Int { logOffset + index * laneSize }
}
