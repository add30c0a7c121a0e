#if DEBUG
    internal import CPMemHeap
    import Foundation
    @_spi(Primitives) import PMemKit
    @testable import PMemHeap

    /// Recomputes a heap pool's checksums and check bits (each as the pool's
    /// own code computes it), so that a mutated pool reaches the checks
    /// behind them; also what gives the template pools a fixed UUID.
    public enum HeapReseal {
        /// What to reseal.
        public struct Parts: OptionSet, Sendable {
            /// The parts' bits.
            public let rawValue: UInt8
            /// Parts of a pool.
            public init(rawValue: UInt8) { self.rawValue = rawValue }
            /// The identity block's checksum.
            public static let identity = Parts(rawValue: 1)
            /// Both state slots' checksums.
            public static let state = Parts(rawValue: 2)
            /// The type count and checkpoint words' check bits.
            public static let words = Parts(rawValue: 4)
            /// Type table entries: layout hash, stride (when the entry describes a valid type) and checksum.
            public static let types = Parts(rawValue: 8)
            /// Slab directory words' check bits.
            public static let slabs = Parts(rawValue: 16)
            /// Redo records and record part headers in every lane.
            public static let log = Parts(rawValue: 32)
            /// Everything with a checksum or check bits.
            public static let all: Parts = [.identity, .state, .words, .types, .slabs, .log]
        }

        /// Reseals the `flags` parts of the pool whose first bytes are `raw`
        /// (nothing unless it holds the header; structures past its end are left).
        public static func reseal(_ raw: UnsafeMutableRawBufferPointer, _ flags: Parts) {
            guard raw.count >= HeapFormat.headerSize else { return }
            do {
                let base = raw.baseAddress!
                let identity = base.loadUnaligned(as: pmh_pool_identity.self)
                if flags.contains(.identity) {
                    let checked = MemoryLayout<pmh_pool_identity>.offset(of: \.checksum)!
                    let sum = Checksum.of(base, checked, seed: HeapFormat.Seed.identity.rawValue)
                    base.storeBytes(
                        of: sum, toByteOffset: HeapFormat.identityOffset + checked, as: UInt64.self)
                }
                let salt = TemplatePool.salt(uuid: UUID(uuid: identity.uuid))
                if flags.contains(.state) {
                    let checked = MemoryLayout<pmh_state_slot>.offset(of: \.checksum)!
                    for slot in 0..<2 {
                        let p = base + HeapFormat.stateSlotOffsets[slot]
                        let sum = Checksum.of(p, checked, seed: PoolState.seed(salt: salt, slot: slot))
                        p.storeBytes(of: sum, toByteOffset: checked, as: UInt64.self)
                    }
                }
                if flags.contains(.words) {
                    for tag in [HeapFormat.typeCountOffset, HeapFormat.checkpointOffset] {
                        let value = base.load(fromByteOffset: tag, as: UInt64.self) & CheckedWord.valueMask
                        base.storeBytes(
                            of: CheckedWord.encode(value, salt: salt, tag: tag), toByteOffset: tag,
                            as: UInt64.self)
                    }
                }
                let g = identity.geometry
                func inside(_ offset: UInt64, _ length: Int) -> Int? {
                    offset <= UInt64(raw.count) && UInt64(length) <= UInt64(raw.count) - offset
                        ? Int(offset) : nil
                }
                if flags.contains(.types) {
                    let count = min(
                        base.load(fromByteOffset: HeapFormat.typeCountOffset, as: UInt64.self)
                            & CheckedWord.valueMask,
                        min(g.type_capacity, 4096))
                    for index in 0..<Int(count) {
                        let at = g.type_table_offset &+ UInt64(index * HeapFormat.typeEntrySize)
                        guard let offset = inside(at, HeapFormat.typeEntrySize) else { break }
                        resealType(base + offset, index: index, salt: salt)
                    }
                }
                if flags.contains(.slabs) {
                    for index in 0..<Int(min(g.slab_count, 1 << 20)) {
                        let at = g.slab_directory_offset &+ UInt64(index * 8)
                        guard let offset = inside(at, 8) else { break }
                        let word = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                        guard word != 0 else { continue }
                        let encoded = SlabDirectory.encode(
                            typeID: UInt32(truncatingIfNeeded: word), index: index, salt: salt)
                        base.storeBytes(of: encoded, toByteOffset: offset, as: UInt64.self)
                    }
                }
                if flags.contains(.log), g.lane_size >= 64, g.lane_size <= 1 << 30 {
                    let laneSize = Int(g.lane_size)
                    for lane in 0..<Int(min(g.lane_count, 64)) {
                        let at = g.log_offset &+ UInt64(lane * laneSize)
                        guard let offset = inside(at, 0) else { break }
                        let room = min(laneSize, raw.count - offset)
                        resealLane(
                            UnsafeMutableRawBufferPointer(start: base + offset, count: room), lane: lane,
                            salt: salt)
                    }
                }
            }
        }

        /// Recomputes a type entry's layout hash and stride (when its fields
        /// describe a type `TypeDescription` accepts) and its checksum.
        static func resealType(_ p: UnsafeMutableRawPointer, index: Int, salt: UInt64) {
            var entry = p.loadUnaligned(as: pmh_type_entry.self)
            let name = withUnsafeBytes(of: entry.name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            let offsets = withUnsafeBytes(of: entry.pointer_offsets) {
                Array($0.bindMemory(to: UInt32.self).prefix(Int(min(entry.npointers, 86))))
            }.map { Int($0) }
            if entry.size <= 1 << 30,
                let description = try? TypeDescription(
                    name: name, size: Int(entry.size), alignment: Int(entry.alignment),
                    pointerOffsets: offsets)
            {
                entry.layout_hash = description.layoutHash
                entry.stride = UInt32(truncatingIfNeeded: description.stride)
            }
            let checked = MemoryLayout<pmh_type_entry>.offset(of: \.checksum)!
            entry.checksum = withUnsafeBytes(of: entry) {
                Checksum.of($0.baseAddress!, checked, seed: TypeTable.seed(salt: salt, index: index))
            }
            p.storeBytes(of: entry, as: pmh_type_entry.self)
        }

        /// Reseals a lane: a record part header at its start, else the chain of redo records from its start.
        static func resealLane(_ lane: UnsafeMutableRawBufferPointer, lane index: Int, salt: UInt64) {
            guard let base = lane.baseAddress, lane.count >= RecordParts.headerSize else { return }
            var part = base.loadUnaligned(as: pmh_record_part.self)
            if part.magic == RecordParts.magic {
                let checked = MemoryLayout<pmh_record_part>.offset(of: \.checksum)!
                part.checksum = withUnsafeBytes(of: part) {
                    Checksum.of($0.baseAddress!, checked, seed: salt ^ RecordParts.magic)
                }
                base.storeBytes(of: part, as: pmh_record_part.self)
                return
            }
            var position = 0
            while lane.count - position >= HeapFormat.recordHeaderSize {
                let header = (base + position).loadUnaligned(as: pmh_redo_record_header.self)
                let length = Int(header.length)
                guard length >= HeapFormat.recordHeaderSize, length % 8 == 0, length <= lane.count - position
                else { return }
                Reseal.redoRecord(
                    UnsafeMutableRawBufferPointer(start: base + position, count: length), salt: salt)
                position = roundUp(position + length, HeapFormat.line)
            }
        }
    }
#endif
