import Foundation
@_spi(Primitives) import PMemKit

/// The immutable identity block at offset 0: magic, version, UUID and
/// geometry, with a checksum over all of it. Written once at creation.
struct PoolIdentity: Equatable {
    var uuid: UUID
    var geometry: PoolGeometry

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

    // Field offsets inside the block.
    private enum Field {
        static let magic = 0
        static let version = 8
        static let blockSize = 12
        static let uuid = 16
        static let geometry = 32  // ten UInt64 values, in PoolGeometry's declaration order
        static let checksum = HeapFormat.identitySize - 8
    }

    /// Writes the block into `block` (at least `HeapFormat.identitySize` bytes).
    func write(to block: UnsafeMutableRawPointer) {
        block.initializeMemory(as: UInt8.self, repeating: 0, count: HeapFormat.identitySize)
        block.storeBytes(of: HeapFormat.magic, toByteOffset: Field.magic, as: UInt64.self)
        block.storeBytes(of: HeapFormat.version, toByteOffset: Field.version, as: UInt32.self)
        block.storeBytes(of: UInt32(HeapFormat.identitySize), toByteOffset: Field.blockSize, as: UInt32.self)
        let (lo, hi) = uuidWords
        block.storeBytes(of: lo, toByteOffset: Field.uuid, as: UInt64.self)
        block.storeBytes(of: hi, toByteOffset: Field.uuid + 8, as: UInt64.self)
        for (i, value) in geometryValues.enumerated() {
            block.storeBytes(of: UInt64(value), toByteOffset: Field.geometry + 8 * i, as: UInt64.self)
        }
        let sum = Checksum.of(block, Field.checksum, seed: HeapFormat.Seed.identity.rawValue)
        block.storeBytes(of: sum, toByteOffset: Field.checksum, as: UInt64.self)
    }

    private var geometryValues: [Int] {
        let g = geometry
        return [
            g.poolSize, g.slabSize, g.typeTableOffset, g.typeCapacity, g.slabDirectoryOffset, g.slabCount,
            g.logOffset, g.laneCount, g.laneSize, g.slabsOffset,
        ]
    }

    /// Reads and validates a block; throws `corrupt` naming the first problem.
    ///
    /// - Parameter fileSize: bytes actually present, so a truncated pool is
    ///   reported instead of faulting later.
    static func read(from block: UnsafeRawPointer, fileSize: Int, path: String) throws -> PoolIdentity {
        func corrupt(_ what: String) -> PMemError {
            PMemError(.corrupt, operation: "heap open", detail: "\(path): \(what)")
        }
        let magic = block.loadUnaligned(fromByteOffset: Field.magic, as: UInt64.self)
        guard magic == HeapFormat.magic else {
            throw corrupt("not a PMemHeap pool (bad magic 0x\(String(magic, radix: 16)))")
        }
        let version = block.loadUnaligned(fromByteOffset: Field.version, as: UInt32.self)
        guard version == HeapFormat.version else {
            throw corrupt(
                "pool format version \(version) is not supported (this build reads \(HeapFormat.version))")
        }
        let stored = block.loadUnaligned(fromByteOffset: Field.checksum, as: UInt64.self)
        guard Checksum.of(block, Field.checksum, seed: HeapFormat.Seed.identity.rawValue) == stored else {
            throw corrupt("header checksum mismatch (the identity block is damaged)")
        }
        let v = (0..<10).map {
            Int(
                truncatingIfNeeded: block.loadUnaligned(
                    fromByteOffset: Field.geometry + 8 * $0, as: UInt64.self))
        }
        let geometry = PoolGeometry(
            poolSize: v[0], slabSize: v[1], typeTableOffset: v[2], typeCapacity: v[3],
            slabDirectoryOffset: v[4],
            slabCount: v[5], logOffset: v[6], laneCount: v[7], laneSize: v[8], slabsOffset: v[9])
        try geometry.validate()
        guard geometry.poolSize <= fileSize else {
            throw corrupt("the header says \(geometry.poolSize) bytes but only \(fileSize) are present")
        }
        var raw = uuid_t(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: block + Field.uuid, count: 16))
        }
        return PoolIdentity(uuid: UUID(uuid: raw), geometry: geometry)
    }
}
