/// The records between the reclaim point and the written end of the log,
/// as the agent found them: each checked once (checksum, position,
/// sequence) by the scanner, then shipped to every replica from here.
struct RecordIndex {
    /// One record.
    struct Entry {
        var position: UInt64
        var footprint: Int
        var payloadLength: Int
        var transaction: UInt64
        var time: UInt64
        var kind: LogRecordKind
    }

    private var scanner: LogScanner
    /// The ring's size: a run of records must not cross a multiple of it.
    private let capacity: UInt64
    private var entries: [Entry] = []
    /// Index in `entries` of the first live one (entries before it are reclaimed).
    private var start = 0
    /// Sequence number of `entries[start]`.
    private(set) var firstSequence: UInt64
    /// Heap transaction number of the last record found (kept when records are dropped).
    private(set) var lastTransaction: UInt64 = 0
    /// Sequence number of the last baseline start found (kept when records are dropped).
    private(set) var latestBaseline: UInt64?

    /// The transaction of the last record reclaimed before this index's first (0: unknown).
    let reclaimedTransaction: UInt64

    init(region: LogRegion) {
        let point = region.reclaimPoint()
        scanner = LogScanner(region: region, from: point)
        capacity = UInt64(region.capacity)
        firstSequence = point.sequence
        reclaimedTransaction = point.transaction
    }

    /// The sequence number of the last record found (firstSequence - 1 when none).
    var lastSequence: UInt64 { firstSequence + UInt64(entries.count - start) - 1 }

    /// Where the next record will be written.
    var endPosition: UInt64 { scanner.position }

    /// Records held.
    var count: Int { entries.count - start }

    /// Reads records appended since the last call; returns how many.
    @discardableResult
    mutating func refresh(limit: Int = 1 << 16) -> Int {
        var found = 0
        while found < limit, let record = scanner.next() {
            entries.append(
                Entry(
                    position: record.header.position, footprint: record.header.footprint,
                    payloadLength: record.header.payloadLength, transaction: record.header.transaction,
                    time: record.header.time, kind: record.header.kind
                ))
            lastTransaction = record.header.transaction
            if record.header.kind == .baselineBegin { latestBaseline = record.header.sequence }
            found += 1
        }
        return found
    }

    /// The entry of `sequence`, if held.
    func entry(_ sequence: UInt64) -> Entry? {
        guard sequence >= firstSequence, sequence <= lastSequence else { return nil }
        return entries[start + Int(sequence - firstSequence)]
    }

    /// Position of the record after `sequence` (the end of the log when it is the last).
    func position(after sequence: UInt64) -> UInt64 {
        entry(sequence + 1)?.position ?? endPosition
    }

    /// A run of records from `sequence` that lie back to back in the ring
    /// (never across the ring's end, never past a baseline's end, never past
    /// `last`), of at most `maxBytes` (at least one record): its first
    /// position, bytes and count.
    func run(from sequence: UInt64, through last: UInt64 = .max, maxBytes: Int) -> (
        position: UInt64, bytes: Int, count: Int
    )? {
        guard sequence <= last, let first = entry(sequence) else { return nil }
        var bytes = first.footprint
        var count = 1
        var previous = first
        // Back to back in the ring: contiguous positions, and not at the start
        // of a lap (a record that ends exactly at the ring's end is followed
        // by one at offset 0, contiguous as a position but not in memory).
        while first.kind != .baselineEnd, sequence + UInt64(count) <= last,
            let next = entry(sequence + UInt64(count)),
            next.position == previous.position + UInt64(previous.footprint),
            next.position % capacity != 0,
            bytes + next.footprint <= maxBytes
        {
            bytes += next.footprint
            count += 1
            previous = next
            if next.kind == .baselineEnd { break }
        }
        return (first.position, bytes, count)
    }

    /// The payload of the record `sequence` in the log's ring (valid while it is held).
    func payload(of sequence: UInt64, in region: LogRegion) -> UnsafeRawBufferPointer? {
        guard let entry = entry(sequence) else { return nil }
        let offset = Int(entry.position % UInt64(region.capacity)) + LogFormat.headerSize
        return UnsafeRawBufferPointer(start: region.ring + offset, count: entry.payloadLength)
    }

    /// The first baseline start at or after the oldest held record.
    func firstBaseline() -> UInt64? {
        for i in start..<entries.count where entries[i].kind == .baselineBegin {
            return firstSequence + UInt64(i - start)
        }
        return nil
    }

    /// Forgets records up to `sequence` (reclaimed).
    mutating func drop(through sequence: UInt64) {
        guard sequence >= firstSequence else { return }
        let n = min(Int(sequence - firstSequence) + 1, count)
        start += n
        firstSequence += UInt64(n)
        if start > 4096 && start * 2 > entries.count {
            entries.removeFirst(start)
            start = 0
        }
    }
}
