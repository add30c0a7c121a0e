/// Reads the log's records in order from a position: each must be whole
/// (checksum, position) and carry the next sequence number. Wrap markers
/// are followed, not returned. Where no such record is, the written log ends
/// for now (a record being appended, or nothing yet).
public struct LogScanner {
    /// The log being read.
    public let region: LogRegion
    /// Where the next record is expected.
    public private(set) var position: UInt64
    /// The sequence number the next record must carry.
    public private(set) var nextSequence: UInt64

    /// A scanner starting at `point` (usually the reclaim point).
    public init(region: LogRegion, from point: LogRegion.ReclaimPoint) {
        self.region = region
        position = point.position
        nextSequence = point.sequence
    }

    /// The next record and a pointer to its first byte (valid while the
    /// record is not reclaimed), or `nil` at the end of what is written.
    public mutating func next() -> (header: LogRecordHeader, bytes: UnsafeRawPointer)? {
        for _ in 0..<2 {
            guard let found = region.record(at: position), found.header.sequence == nextSequence else {
                return nil
            }
            if found.header.kind == .wrap {
                position = region.nextLap(after: position)
                continue
            }
            position += UInt64(found.header.footprint)
            nextSequence += 1
            return found
        }
        return nil
    }
}
