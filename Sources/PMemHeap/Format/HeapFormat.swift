internal import CPMemHeap

/// Fixed numbers of the on-media pool format (docs/HEAP-FORMAT.md).
///
/// The layouts themselves are C structs in `pmh_format.h` (CPMemHeap), whose
/// `_Static_assert`s pin every field offset and size; the offsets and sizes
/// here are read off those structs, never written down a second time.
/// Every offset is from the first byte of the pool; every integer is
/// little-endian; every structure that can be updated in place is either an
/// aligned 8-byte word (failure-atomic on PMem) or checksummed.
enum HeapFormat {
    /// `PMEMHEAP` read as a little-endian UInt64.
    static let magic: UInt64 = 0x5041_4548_4d45_4d50
    /// The format version of a pool that uses no feature (this code writes and reads it).
    static var version: UInt32 { UInt32(PMH_FORMAT_VERSION) }
    /// The version of a pool whose identity names features: builds from before
    /// features refuse it, as they must (they would not follow its rules).
    static var featuresVersion: UInt32 { UInt32(PMH_FORMAT_VERSION_FEATURES) }

    /// Cache line: the unit of flushes and of record alignment.
    static let line = 64
    /// Bytes reserved for the header (`pmh_pool_header`: identity, state slots, counters, root).
    static var headerSize: Int { MemoryLayout<pmh_pool_header>.size }
    /// The immutable identity block (`pmh_pool_identity`): magic, version, UUID, geometry, checksum.
    static let identityOffset = MemoryLayout<pmh_pool_header>.offset(of: \.identity)!
    static var identitySize: Int { MemoryLayout<pmh_pool_identity>.size }
    /// Two state slots (`pmh_state_slot`); the valid one with the higher generation is current.
    static let stateSlotOffsets = (0..<2).map {
        MemoryLayout<pmh_pool_header>.offset(of: \.state)! + $0 * MemoryLayout<pmh_state_slot>.stride
    }
    static var stateSlotSize: Int { MemoryLayout<pmh_state_slot>.size }
    /// The two unsafe-shutdown record slots (`pmh_shutdown_record`).
    static let shutdownSlotOffsets = (0..<2).map {
        MemoryLayout<pmh_pool_header>.offset(of: \.shutdown)! + $0 * MemoryLayout<pmh_shutdown_record>.stride
    }
    static var shutdownSlotSize: Int { MemoryLayout<pmh_shutdown_record>.size }
    /// Self-checked words: registered type count, checkpoint sequence. Each
    /// word's offset is also the tag its check bits are computed with.
    static let typeCountOffset = MemoryLayout<pmh_pool_header>.offset(of: \.type_count)!
    static let checkpointOffset = MemoryLayout<pmh_pool_header>.offset(of: \.checkpoint)!
    /// The mirrors of the two counters (same cache line: one flush persists both).
    static let typeCountMirrorOffset = MemoryLayout<pmh_pool_header>.offset(of: \.type_count_mirror)!
    static let checkpointMirrorOffset = MemoryLayout<pmh_pool_header>.offset(of: \.checkpoint_mirror)!
    /// The root line (`pmh_root_line`): a native pointer (swizzled like any other) and its type id.
    static let rootLineOffset = MemoryLayout<pmh_pool_header>.offset(of: \.root)!
    static let rootPointerOffset = rootLineOffset + MemoryLayout<pmh_root_line>.offset(of: \.pointer)!
    static var rootLineSize: Int { MemoryLayout<pmh_root_line>.size }

    /// The root line of the pool at `base`: the root's native pointer and its type id.
    static func rootLine(at base: UnsafeRawPointer) -> (pointer: UInt64, typeID: UInt64) {
        let line = (base + rootLineOffset).load(as: pmh_root_line.self)
        return (line.pointer, line.type_id)
    }

    /// One type table entry (`pmh_type_entry`).
    static var typeEntrySize: Int { MemoryLayout<pmh_type_entry>.size }
    /// UTF-8 bytes of a type's name at most (its field keeps a NUL after them).
    static var typeNameCapacity: Int { Int(PMH_TYPE_NAME_SIZE) - 1 }
    static var maxPointerFields: Int { Int(PMH_TYPE_MAX_POINTERS) }
    /// Type table capacity of a new pool.
    static let defaultTypeCapacity = 128
    /// The most entries a type table may have (2 MiB of table).
    static let maximumTypeCapacity = 4096

    /// Bytes of a redo record's header (`pmh_redo_record_header`).
    static var recordHeaderSize: Int { MemoryLayout<pmh_redo_record_header>.size }
    /// Bytes of a redo entry's header (`pmh_redo_entry`: offset+kind word, length or mask word).
    static var entryHeaderSize: Int { MemoryLayout<pmh_redo_entry>.size }

    /// Default slab size of a new pool.
    static let defaultSlabSize = 64 << 10
    /// Lanes of a new pool's redo log.
    static let defaultLaneCount = 16

    /// Checksum seeds per structure, so one structure's bytes never validate as another's.
    enum Seed: UInt64 {
        case identity = 0x4944_454e_5449_5459
        case state = 0x5354_4154_4500_0000
        case typeEntry = 0x5459_5045_0000_0000
        case slabEntry = 0x534c_4142_0000_0000
        case counter = 0x434f_554e_5445_5200
        case record = 0x5245_434f_5244_0000
        case layout = 0x4c41_594f_5554_0000
        case shutdown = 0x5348_5554_444f_574e
    }
}

/// Rounds `value` up to a multiple of `alignment` (a power of two).
@inline(__always) func roundUp(_ value: Int, _ alignment: Int) -> Int {
    (value + alignment - 1) & ~(alignment - 1)
}
