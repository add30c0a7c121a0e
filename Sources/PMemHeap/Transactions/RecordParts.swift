internal import CPMemHeap
@_spi(Primitives) import PMemKit

/// A redo record too large for one lane is written across whole lanes, one
/// part per lane, each lane starting with a 64-byte part header
/// (`pmh_record_part`):
///
/// ```
/// magic u64 | seq u64 | part index u32 | part count u32 | next lane u32 | payload bytes u32
/// | record length u64 | reserved u64 | checksum u64 (of the 56 bytes before it)
/// ```
///
/// The record's own checksum covers the whole record, so recovery accepts a
/// chain only when every part is present and intact.
enum RecordParts {
    /// `PMHPART` and a zero byte, little-endian.
    static let magic: UInt64 = 0x0054_5241_5048_4d50
    static var headerSize: Int { MemoryLayout<pmh_record_part>.size }
    static let noLane = UInt32.max
    /// Bytes of the part header its checksum covers: those before the checksum field.
    private static let checkedBytes = MemoryLayout<pmh_record_part>.offset(of: \.checksum)!

    /// Payload bytes one lane carries.
    static func capacity(laneSize: Int) -> Int { laneSize - headerSize }

    /// Writes part `index` of `count` of record `seq` at the start of `lane` (no flush).
    static func writeHeader(
        _ lane: UnsafeMutableRawPointer, seq: UInt64, index: Int, count: Int, nextLane: UInt32, payload: Int,
        recordLength: Int, salt: UInt64
    ) {
        var part = pmh_record_part()
        part.magic = magic
        part.seq = seq
        part.index = UInt32(index)
        part.count = UInt32(count)
        part.next_lane = nextLane
        part.payload = UInt32(payload)
        part.record_length = UInt64(recordLength)
        part.checksum = checksum(of: part, upTo: checkedBytes, seed: salt ^ magic)
        lane.storeBytes(of: part, as: pmh_record_part.self)
    }

    /// A part header as read back.
    struct Header {
        let seq: UInt64
        let index: Int
        let count: Int
        let nextLane: UInt32
        let payload: Int
        let recordLength: Int
    }

    /// The part header at the start of `lane`, or `nil` when there is none (or it is damaged).
    static func readHeader(_ lane: UnsafeRawPointer, laneSize: Int, salt: UInt64) -> Header? {
        let part = lane.load(as: pmh_record_part.self)
        guard part.magic == magic, part.checksum == Checksum.of(lane, checkedBytes, seed: salt ^ magic),
            // A record is at most the whole log: a larger length (even one no Int holds) is damage.
            let recordLength = Int(exactly: part.record_length), recordLength <= PoolGeometry.maximumValue
        else { return nil }
        let header = Header(
            seq: part.seq, index: Int(part.index), count: Int(part.count), nextLane: part.next_lane,
            payload: Int(part.payload), recordLength: recordLength)
        guard header.payload <= capacity(laneSize: laneSize), header.index < header.count else { return nil }
        return header
    }

    /// Reassembles the record whose first part starts lane `first`; `nil` unless every part is there.
    static func gather(
        first: Int, base: UnsafeRawPointer, geometry: PoolGeometry, salt: UInt64
    ) -> [UInt8]? {
        guard
            let head = readHeader(base + geometry.laneOffset(first), laneSize: geometry.laneSize, salt: salt),
            head.index == 0, head.count <= geometry.laneCount,
            head.recordLength <= head.count * capacity(laneSize: geometry.laneSize)
        else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(head.recordLength)
        var lane = first
        var visited = Set<Int>()
        for index in 0..<head.count {
            guard lane < geometry.laneCount, visited.insert(lane).inserted,
                let part = readHeader(
                    base + geometry.laneOffset(lane), laneSize: geometry.laneSize, salt: salt),
                part.seq == head.seq, part.index == index, part.count == head.count
            else { return nil }
            let start = base + geometry.laneOffset(lane) + headerSize
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: start, count: part.payload))
            lane = Int(part.nextLane)
        }
        guard bytes.count == head.recordLength else { return nil }
        return bytes
    }
}
