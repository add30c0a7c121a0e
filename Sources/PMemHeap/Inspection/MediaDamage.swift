import Foundation
import PMemKit

/// What a pool's bad bytes (media errors the kernel knows, `BadBlocks`) hit:
/// objects, free space, the redo log, or metadata no repair here can rebuild.
public struct MediaDamage: Encodable, Sendable, Equatable {
    /// An allocated object with bad bytes.
    public struct DamagedObject: Encodable, Sendable, Equatable {
        /// Its type's name.
        public var type: String
        /// Its offset in the pool.
        public var offset: Int
        /// Its size (the type's stride).
        public var size: Int
        /// The bad bytes inside it, from the pool's start.
        public var bad: [Range<UInt64>]

        enum CodingKeys: String, CodingKey {
            case type, offset, size
            case bad = "bad_bytes"
        }

        /// Encodes ranges as `[start, end]` pairs.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(type, forKey: .type)
            try c.encode(offset, forKey: .offset)
            try c.encode(size, forKey: .size)
            try c.encode(bad.map { [$0.lowerBound, $0.upperBound] }, forKey: .bad)
        }
    }

    /// The pool's bad byte ranges.
    public var ranges: [Range<UInt64>]
    /// Allocated objects they hit.
    public var objects: [DamagedObject]
    /// Metadata they hit (`header`, `type table`, `slab directory`, `slab N's bitmap`): not repairable here.
    public var metadata: [String]
    /// Bad bytes in the redo log (its records there are lost if they were pending).
    public var logBytes: UInt64
    /// Bad bytes in free slots and free slabs (nothing lost).
    public var freeBytes: UInt64

    enum CodingKeys: String, CodingKey {
        case ranges, objects, metadata
        case logBytes = "log_bytes"
        case freeBytes = "free_bytes"
    }

    /// Encodes ranges as `[start, end]` pairs.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ranges.map { [$0.lowerBound, $0.upperBound] }, forKey: .ranges)
        try c.encode(objects, forKey: .objects)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(logBytes, forKey: .logBytes)
        try c.encode(freeBytes, forKey: .freeBytes)
    }

    /// Whether `--recover` can repair it: no metadata is hit.
    public var repairable: Bool { metadata.isEmpty }

    /// `3 bad ranges: 2 objects ('node' at 393760, ...), 512 bytes of free space`.
    public var summary: String {
        var parts: [String] = []
        if !metadata.isEmpty { parts.append("metadata (\(metadata.joined(separator: ", ")))") }
        if !objects.isEmpty {
            let named = objects.prefix(3).map { "'\($0.type)' at \($0.offset)" }.joined(separator: ", ")
            parts.append(
                "\(objects.count) object\(objects.count == 1 ? "" : "s") (\(named)\(objects.count > 3 ? ", ..." : ""))"
            )
        }
        if logBytes > 0 { parts.append("\(logBytes) bytes of the redo log") }
        if freeBytes > 0 { parts.append("\(freeBytes) bytes of free space") }
        return "\(ranges.count) bad range\(ranges.count == 1 ? "" : "s") hit "
            + (parts.isEmpty ? "nothing in use" : parts.joined(separator: ", "))
    }

    /// The damage of the pool at `path`, or nil when the kernel lists no bad bytes there.
    public static func find(path: String) throws -> MediaDamage? {
        let ranges = try BadBlocks.of(path: path)
        guard !ranges.isEmpty else { return nil }
        return try classify(path: path, ranges: ranges)
    }

    /// Where `ranges` fall, read through a view whose bad pages are zeros.
    static func classify(path: String, ranges: [Range<UInt64>]) throws -> MediaDamage {
        var damage = MediaDamage(ranges: ranges, objects: [], metadata: [], logBytes: 0, freeBytes: 0)
        let view = try PoolView(path: path, masking: ranges)
        let page = UInt64(getpagesize())
        func masked(_ r: Range<Int>) -> Bool {
            ranges.contains { bad in
                let first = bad.lowerBound / page * page
                let end = (bad.upperBound + page - 1) / page * page
                return UInt64(r.lowerBound) < end && UInt64(r.upperBound) > first
            }
        }
        // The identity block says where everything is; without it nothing can be placed.
        guard !masked(0..<HeapFormat.headerSize) else {
            damage.metadata.append("header")
            return damage
        }
        let identity = try PoolIdentity.read(from: view.base, fileSize: view.size, path: path)
        let g = identity.geometry
        if masked(g.typeTableOffset..<g.slabDirectoryOffset) { damage.metadata.append("type table") }
        if masked(g.slabDirectoryOffset..<(g.slabDirectoryOffset + g.slabCount * 8)) {
            damage.metadata.append("slab directory")
        }
        guard damage.metadata.isEmpty else { return damage }
        let types = try TypeTable.read(from: view.base, geometry: g, salt: identity.salt, path: path)
        let (slabTypes, continued) = try PoolSnapshot.directory(
            base: view.base, geometry: g, types: types, salt: identity.salt, path: path)
        let layouts = types.map {
            SlabLayout(stride: $0.stride, alignment: $0.description.alignment, slabSize: g.slabSize)
        }
        var objects: [Int: DamagedObject] = [:]
        for bad in ranges {
            var at = bad.lowerBound
            while at < bad.upperBound {
                let offset = Int(at)
                // Each step covers the rest of the bad range inside one region, slab or object.
                var step = bad.upperBound - at
                defer { at += max(1, step) }
                if offset < g.logOffset {
                    damage.metadata.append(offset < g.typeTableOffset ? "header" : "metadata at \(offset)")
                    step = min(step, UInt64(g.logOffset - offset))
                    continue
                }
                if offset < g.slabsOffset {
                    let end = min(bad.upperBound, UInt64(g.slabsOffset))
                    damage.logBytes += end - at
                    step = end - at
                    continue
                }
                let slab = (offset - g.slabsOffset) / g.slabSize
                guard slab < g.slabCount else {
                    step = bad.upperBound - at
                    break
                }
                let slabEnd = g.slabOffset(slab) + g.slabSize
                step = min(step, UInt64(slabEnd - offset))
                // Past a large object's first slab: the object begins in an earlier slab.
                var first = slab
                while first > 0 && continued[first] { first -= 1 }
                let slabStart = g.slabOffset(first)
                let typeID = Int(slabTypes[first])
                guard typeID > 0, let layout = layouts[typeID - 1] else {
                    damage.freeBytes += step
                    continue
                }
                let inSlab = offset - slabStart
                if inSlab < layout.bitmapWords * 8 {
                    damage.metadata.append("slab \(slab)'s bitmap")
                    step = min(step, UInt64(layout.bitmapWords * 8 - inSlab))
                    continue
                }
                let slot = (inSlab - layout.objectsOffset) / layout.stride
                guard inSlab >= layout.objectsOffset, slot < layout.count else {
                    damage.freeBytes += step
                    continue
                }
                let objectStart = slabStart + layout.objectsOffset + slot * layout.stride
                step = min(step, UInt64(objectStart + layout.stride - offset))
                let wordOffset = slabStart + slot / 64 * 8
                let word: UInt64
                if masked(wordOffset..<(wordOffset + 8)) {
                    // The view zeroed that page: read the word's own sector past the page cache.
                    guard let read = sectorWord(path: path, offset: wordOffset) else {
                        damage.metadata.append("slab \(slab)'s bitmap")
                        continue
                    }
                    word = read
                } else {
                    word = view.base.load(fromByteOffset: wordOffset, as: UInt64.self)
                }
                guard word & (1 << UInt64(slot % 64)) != 0 else {
                    damage.freeBytes += step
                    continue
                }
                objects[
                    objectStart,
                    default: DamagedObject(
                        type: types[typeID - 1].description.name, offset: objectStart, size: layout.stride,
                        bad: [])
                ].bad.append(at..<(at + step))
            }
        }
        damage.objects = objects.values.sorted { $0.offset < $1.offset }
        var seen = Set<String>()
        damage.metadata = damage.metadata.filter { seen.insert($0).inserted }
        return damage
    }

    /// The 8-byte word at `offset`, read alone with O_DIRECT (its 512-byte sector
    /// only, so a bad neighbour in the same page does not fail it); nil when that
    /// sector is itself bad or the path cannot be read that way (a devdax device).
    static func sectorWord(path: String, offset: Int) -> UInt64? {
        let fd = BadBlocks.openDirect(path, flags: O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let sector = 512
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { buffer.deallocate() }
        let start = offset / sector * sector
        guard pread(fd, buffer, sector, off_t(start)) == sector else { return nil }
        return buffer.load(fromByteOffset: offset - start, as: UInt64.self)
    }
}

extension MediaDamage {
    /// Repairs the pool at `path` (it must not be open; the pool lock is held
    /// meanwhile): writes zeros over every bad sector, past the page cache,
    /// which is how the pmem driver clears poison, then zeroes each damaged
    /// object whole, so that no object keeps half its old bytes (its pointers
    /// read null, its data zero; it stays allocated, so pointers to it stay
    /// valid). Returns one line per repair; throws when metadata is hit (nothing
    /// is written then) or when the kernel still lists bad bytes afterwards.
    public static func repair(path: String, damage: MediaDamage) throws -> [String] {
        guard damage.repairable else {
            throw PMemError(
                .corrupt, operation: "heap check --recover",
                detail:
                    "\(path): bad media in \(damage.metadata.joined(separator: ", ")) cannot be repaired here; "
                    + "nothing was written. Promote a replica or restore a backup")
        }
        let lock = try PersistentHeap.lockPool(path)
        defer { Foundation.close(lock) }
        var lines: [String] = []
        let direct = BadBlocks.openDirect(path, flags: O_WRONLY)
        guard direct >= 0 else {
            throw PMemError.system(
                "open", errno: -direct,
                detail:
                    "\(path): bad sectors are cleared by writing them directly (O_DIRECT), which it refuses")
        }
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 16)
        defer { zeros.deallocate() }
        for range in damage.ranges {
            var at = range.lowerBound / 512 * 512
            let end = (range.upperBound + 511) / 512 * 512
            while at < end {
                let n = Int(min(end - at, 1 << 16))
                guard pwrite(direct, zeros, n, off_t(at)) == n else {
                    let code = errno
                    Foundation.close(direct)
                    throw PMemError.system(
                        "pwrite", errno: code, detail: "\(path): clearing bytes \(at)..<\(end)")
                }
                at += UInt64(n)
            }
            lines.append("cleared bad bytes \(range.lowerBound)..<\(range.upperBound)")
        }
        Foundation.close(direct)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PMemError.system("open", errno: errno, detail: path) }
        defer { Foundation.close(fd) }
        for object in damage.objects {
            var written = 0
            while written < object.size {
                let n = min(object.size - written, 1 << 16)
                guard pwrite(fd, zeros, n, off_t(object.offset + written)) == n else {
                    throw PMemError.system(
                        "pwrite", errno: errno, detail: "\(path): zeroing the object at \(object.offset)")
                }
                written += n
            }
            lines.append("zeroed '\(object.type)' object at offset \(object.offset) (\(object.size) bytes)")
        }
        guard fsync(fd) == 0 else { throw PMemError.system("fsync", errno: errno, detail: path) }
        let left = try BadBlocks.of(path: path)
        guard left.isEmpty else {
            throw PMemError(
                .corrupt, operation: "heap check --recover",
                detail:
                    "\(path): the kernel still lists \(left.count) bad ranges after they were written "
                    + "(clear them with `ndctl clear-errors`, then run this again)")
        }
        return lines
    }
}
