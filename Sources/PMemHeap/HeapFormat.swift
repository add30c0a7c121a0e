/// Fixed numbers of the on-media pool format (docs/HEAP-FORMAT.md).
///
/// Every offset is from the first byte of the pool; every integer is
/// little-endian; every structure that can be updated in place is either an
/// aligned 8-byte word (failure-atomic on PMem) or checksummed.
enum HeapFormat {
    /// `PMEMHEAP` read as a little-endian UInt64.
    static let magic: UInt64 = 0x5041_4548_4d45_4d50
    /// The format version this code writes and reads.
    static let version: UInt32 = 1

    /// Cache line: the unit of flushes and of record alignment.
    static let line = 64
    /// Bytes reserved for the header (identity, state slots, counters, root).
    static let headerSize = 4096
    /// The immutable identity block: magic, version, UUID, geometry, checksum.
    static let identityOffset = 0
    static let identitySize = 256
    /// Two state slots; the valid one with the higher generation is current.
    static let stateSlotOffsets = [256, 320]
    static let stateSlotSize = 64
    /// Self-checked words: registered type count, checkpoint sequence.
    static let typeCountOffset = 384
    static let checkpointOffset = 392
    /// The root object: a native pointer (swizzled like any other) and its type id.
    static let rootPointerOffset = 448
    static let rootTypeOffset = 456
    static let rootLineSize = 16

    /// One type table entry.
    static let typeEntrySize = 512
    static let typeNameCapacity = 127
    static let typeNameField = 128
    static let maxPointerFields = 86
    /// Type table capacity of a new pool.
    static let defaultTypeCapacity = 128

    /// Bytes of a redo record's header.
    static let recordHeaderSize = 32
    /// Bytes of a redo entry's header (offset+kind word, length or mask word).
    static let entryHeaderSize = 16

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
    }
}

/// Rounds `value` up to a multiple of `alignment` (a power of two).
@inline(__always) func roundUp(_ value: Int, _ alignment: Int) -> Int {
    (value + alignment - 1) & ~(alignment - 1)
}
