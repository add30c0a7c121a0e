import PMemKit

/// Damage found in the redo log: committed transactions that recovery
/// cannot replay. Reported by `heap info` and `heap check`, and refused by
/// `open` unless the caller accepts the loss (`HeapOpenOptions.damagedLog`).
public struct RedoLogDamage: Sendable, Equatable, CustomStringConvertible {
    /// The lane where the damage sits, when known.
    public var lane: Int?
    /// The damaged record's offset in the pool, when known.
    public var offset: Int?
    /// The first commit sequence number lost (transactions from it on
    /// cannot be replayed in order).
    public var firstLostSequence: UInt64
    /// Committed transactions found intact after the damage in its lane (they
    /// prove the damaged record was committed, and are lost with it).
    public var intactAfter: Int
    /// One line: what is damaged and what it costs.
    public var description: String
}

/// Reads the redo log as recovery sees it: the committed records newer than
/// the checkpoint, in sequence order, and any evidence that a committed
/// record was damaged.
///
/// Within a lane every record is fenced before the next one is written, so
/// the lane's records since it last started over form a chain of
/// increasing sequence numbers from its first byte, and only the newest can
/// be torn by a crash. A valid record newer than the checkpoint found
/// *beyond* the point where the chain breaks therefore proves the breaking
/// record was committed and then damaged (older records left from before
/// the lane started over are all covered by the checkpoint, which is why
/// the lane could start over).
///
/// Across lanes, every sequence number between the checkpoint and the newest
/// record was drawn by a transaction that wrote its record or was cut short
/// by the crash; each cut-short commit is the newest record of the lane it
/// held. A missing sequence number is explained when some lane, not used to
/// explain another, holds only older records; otherwise its record was lost.
///
/// What no reader can tell apart: a lane's newest record damaged after its
/// commit, and one torn by the crash. Both are treated as never committed.
struct RedoLogScan {
    /// Valid records newer than the checkpoint, in sequence order (all of
    /// them, including those after a damage).
    var records: [RedoLog.FoundRecord]
    /// Damage found, in the order of the first sequence number lost.
    var damage: [RedoLogDamage]
    /// Sequence numbers missing between the checkpoint and the newest record
    /// that commits cut short by the crash explain.
    var cutShort: [UInt64]
    /// The newest sequence number any valid record carries (the checkpoint when none).
    var newestSequence: UInt64

    var isDamaged: Bool { !damage.isEmpty }

    /// The first sequence number lost, when any is.
    var firstLostSequence: UInt64? { damage.map(\.firstLostSequence).min() }

    /// The records that replay safely: all of them when the log is intact,
    /// else those before the first lost sequence number.
    var replayable: [RedoLog.FoundRecord] {
        guard let lost = firstLostSequence else { return records }
        return records.filter { $0.seq < lost }
    }

    /// Scans the log of the pool at `base`.
    static func scan(in base: UnsafeRawPointer, geometry: PoolGeometry, checkpoint: UInt64, salt: UInt64)
        -> RedoLogScan
    {
        var reader = LaneReader(base: base, geometry: geometry, checkpoint: checkpoint, salt: salt)
        var lanes: [LaneReader.Lane] = []
        for index in 0..<geometry.laneCount { lanes.append(reader.read(lane: index)) }
        let records = lanes.flatMap(\.records).sorted { $0.seq < $1.seq }
        var damage: [RedoLogDamage] = []
        let present = Set(records.map(\.seq))
        let newest = max(
            checkpoint, records.last?.seq ?? checkpoint, lanes.compactMap(\.tornSequence).max() ?? 0)

        // A chain broken with intact records after it: the breaking record was committed.
        for lane in lanes where !lane.orphans.isEmpty {
            let first = lane.orphans[0]
            let missing = (lane.chainEnd + 1..<first.seq).first { !present.contains($0) } ?? first.seq
            let offset = geometry.laneOffset(lane.index) + lane.breakPosition
            damage.append(
                RedoLogDamage(
                    lane: lane.index, offset: offset, firstLostSequence: missing,
                    intactAfter: lane.orphans.count,
                    description:
                        "redo lane \(lane.index): the record at pool offset \(offset) is damaged, and "
                        + "\(lane.orphans.count) committed transactions after it in the lane (sequence "
                        + "\(first.seq)-\(lane.orphans.last!.seq)) prove it was committed: transactions from "
                        + "\(missing) on cannot be replayed in order"))
        }

        // Every other missing sequence number needs a commit cut short to explain it.
        let lostByOrphans = Set(damage.map(\.firstLostSequence))
        let missing = missingSequences(
            after: checkpoint, through: newest, present: records.map(\.seq), excluding: lostByOrphans,
            limit: lanes.count + maxReportedLosses)
        let (cutShort, unexplained) = explain(missing: missing, lanes: lanes.map(\.summary))
        for seq in unexplained {
            damage.append(
                RedoLogDamage(
                    lane: nil, offset: nil, firstLostSequence: seq, intactAfter: 0,
                    description:
                        "redo log: the record of committed transaction \(seq) is missing (no lane can have held "
                        + "it in flight): transactions from \(seq) on cannot be replayed in order"))
        }
        damage.sort { $0.firstLostSequence < $1.firstLostSequence }
        return RedoLogScan(records: records, damage: damage, cutShort: cutShort, newestSequence: newest)
    }

    /// What recovery knows of one lane when it explains missing sequence numbers.
    struct LaneSummary: Equatable {
        /// The newest sequence number on the lane's chain (0 when empty).
        var chainEnd: UInt64
        /// A multi-lane record cut short (or damaged) whose first part names this sequence number.
        var tornSequence: UInt64?
        /// Whether the lane's newest record can have been a commit cut short.
        var couldHoldCutShortCommit: Bool
        /// Whether intact records follow a break in its chain (damage, already reported).
        var hasOrphans: Bool
    }

    /// Missing sequence numbers reported as lost beyond those a lane can explain.
    static let maxReportedLosses = 64

    /// The sequence numbers in `(checkpoint, newest]` that no record in
    /// `present` (ascending) holds and `excluded` does not name, ascending,
    /// and at most `limit` of them. The limit is what keeps this short: a
    /// damaged (or forged) record whose checksum holds may carry a sequence
    /// number 2^47 past the checkpoint, and only the first few missing
    /// numbers matter (at most one per lane can be a commit cut short; from
    /// the first that is not, nothing is replayed).
    static func missingSequences(
        after checkpoint: UInt64, through newest: UInt64, present: [UInt64], excluding excluded: Set<UInt64>,
        limit: Int
    ) -> [UInt64] {
        var missing: [UInt64] = []
        let held = present.filter { $0 > checkpoint && $0 <= newest }
        var index = 0
        var next = checkpoint
        // Each turn appends (at most `limit`), passes a held number or an excluded one.
        while missing.count < limit, next < newest {
            next += 1
            while index < held.count && held[index] < next { index += 1 }
            if index < held.count && held[index] == next { continue }
            if !excluded.contains(next) { missing.append(next) }
        }
        return missing
    }

    /// Splits `missing` (ascending) into the commits cut short by the crash,
    /// each explained by a lane of its own whose records are all older, and
    /// the rest, whose records were lost.
    static func explain(missing: [UInt64], lanes: [LaneSummary]) -> (
        cutShort: [UInt64], unexplained: [UInt64]
    ) {
        var free = lanes.filter { !$0.hasOrphans && ($0.couldHoldCutShortCommit || $0.tornSequence != nil) }
        var cutShort: [UInt64] = []
        var unexplained: [UInt64] = []
        for seq in missing {
            if let torn = free.firstIndex(where: { $0.tornSequence == seq }) {
                free.remove(at: torn)
                cutShort.append(seq)
            } else if let lane = free.firstIndex(where: {
                $0.couldHoldCutShortCommit && $0.tornSequence == nil && $0.chainEnd < seq
            }) {
                free.remove(at: lane)
                cutShort.append(seq)
            } else {
                unexplained.append(seq)
            }
        }
        return (cutShort, unexplained)
    }
}

/// Reads one lane: its chain of records, where the chain breaks, and any
/// valid record newer than the checkpoint beyond the break.
private struct LaneReader {
    let base: UnsafeRawPointer
    let geometry: PoolGeometry
    let checkpoint: UInt64
    let salt: UInt64
    let bounds: RedoRecord.Bounds

    init(base: UnsafeRawPointer, geometry: PoolGeometry, checkpoint: UInt64, salt: UInt64) {
        self.base = base
        self.geometry = geometry
        self.checkpoint = checkpoint
        self.salt = salt
        bounds = RedoRecord.Bounds(geometry: geometry)
    }

    struct Lane {
        let index: Int
        /// Chain records newer than the checkpoint.
        var records: [RedoLog.FoundRecord] = []
        /// The newest sequence number on the chain (0 when empty).
        var chainEnd: UInt64 = 0
        /// Where the chain stops (bytes into the lane).
        var breakPosition = 0
        /// Valid records newer than the checkpoint beyond the break.
        var orphans: [(seq: UInt64, position: Int)] = []
        /// A multi-lane record whose first part header names this sequence
        /// number but whose parts do not all validate: a commit cut short, or damage.
        var tornSequence: UInt64?
        /// Whether a commit cut short by the crash can have been this lane's
        /// newest record. Not when an intact part header of a multi-lane
        /// record starts the lane: nothing was written there after it.
        var couldHoldCutShortCommit = true

        var summary: RedoLogScan.LaneSummary {
            RedoLogScan.LaneSummary(
                chainEnd: chainEnd, tornSequence: tornSequence,
                couldHoldCutShortCommit: couldHoldCutShortCommit,
                hasOrphans: !orphans.isEmpty)
        }
    }

    /// Whether `record` is a whole, sealed record of lane `lane` newer than `previous`.
    func valid(_ record: UnsafeRawPointer, room: Int, lane: Int, after previous: UInt64) -> Bool {
        let header = RedoRecord.header(record)
        let length = Int(header.length)
        return header.seq > previous && length >= HeapFormat.recordHeaderSize && length <= room
            && length % 8 == 0 && header.lane == UInt32(lane)
            && RedoRecord.isSealed(record, header: header, salt: salt)
            && RedoRecord.validateEntries(record, bounds: bounds)
    }

    mutating func read(lane index: Int) -> Lane {
        var lane = Lane(index: index)
        let start = base + geometry.laneOffset(index)
        if let part = RecordParts.readHeader(start, laneSize: geometry.laneSize, salt: salt) {
            // A lane holding a part of a multi-lane record holds nothing else.
            lane.couldHoldCutShortCommit = false
            guard part.index == 0, part.seq > checkpoint else { return lane }
            if let bytes = RecordParts.gather(first: index, base: base, geometry: geometry, salt: salt) {
                let storage = RedoLog.RecordStorage(bytes)
                if valid(storage.bytes, room: bytes.count, lane: index, after: checkpoint),
                    RedoRecord.seq(storage.bytes) == part.seq
                {
                    lane.records.append(
                        RedoLog.FoundRecord(
                            seq: part.seq, record: storage.bytes, lane: index, storage: storage))
                    lane.chainEnd = part.seq
                    return lane
                }
            }
            lane.tornSequence = part.seq
            return lane
        }
        var position = 0
        var previous: UInt64 = 0
        while position + HeapFormat.recordHeaderSize <= geometry.laneSize {
            let record = start + position
            guard valid(record, room: geometry.laneSize - position, lane: index, after: previous) else {
                break
            }
            previous = RedoRecord.seq(record)
            if previous > checkpoint {
                lane.records.append(
                    RedoLog.FoundRecord(seq: previous, record: record, lane: index, storage: nil))
            }
            position = roundUp(position + RedoRecord.length(record), HeapFormat.line)
        }
        lane.chainEnd = previous
        lane.breakPosition = position
        // Beyond the break, at every line: a valid record newer than the checkpoint is evidence.
        var probe = position + HeapFormat.line
        var after = max(previous, checkpoint)
        while probe + HeapFormat.recordHeaderSize <= geometry.laneSize {
            let record = start + probe
            if valid(record, room: geometry.laneSize - probe, lane: index, after: after) {
                after = RedoRecord.seq(record)
                lane.orphans.append((after, probe))
                lane.records.append(
                    RedoLog.FoundRecord(seq: after, record: record, lane: index, storage: nil))
                probe = roundUp(probe + RedoRecord.length(record), HeapFormat.line)
            } else {
                probe += HeapFormat.line
            }
        }
        return lane
    }
}
