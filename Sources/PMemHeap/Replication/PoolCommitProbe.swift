internal import CPMemHeap
import Foundation
@_spi(Primitives) import PMemKit

/// Reads a pool that another process has open (or left behind) to tell
/// whether it holds a transaction, by the rule recovery follows: a
/// transaction is committed when its sequence number is at most the pool's
/// checkpoint, or when its sealed redo record is in its lane (for a record
/// across lanes: when every part is there). The replication agent asks this
/// before it ships a transaction record: the log's record is written before
/// the heap's own, so the log may hold a transaction the pool never got.
///
/// Read-only: the pool is mapped without write permission and never opened
/// as a heap (nothing is replayed). Answers are about the bytes visible now;
/// the caller decides whose pool state they are (`state()`).
package final class PoolCommitProbe {
    private let mapping: PMemMapping
    private let identity: PoolIdentity
    /// Per lane, where the record after the last one found is likely to be.
    private var hints: [Int]

    /// The pool's UUID.
    package var uuid: UUID { identity.uuid }

    /// Maps the pool at `path` read-only and checks its identity block;
    /// throws `corrupt` when it is not an intact pool.
    package init(path: String) throws {
        mapping = try PMemMapping(path: path, options: .init(readOnly: true))
        identity = try PoolIdentity.read(from: mapping.base, fileSize: mapping.size, path: path)
        hints = Array(repeating: 0, count: identity.geometry.laneCount)
    }

    /// The pool's state slot: its generation, and whether the last close was clean.
    package struct State: Equatable, Sendable {
        /// Grows with every open and close (and relocation step).
        package var generation: UInt64
        /// The last close finished cleanly (nothing is in doubt).
        package var cleanShutdown: Bool
    }

    /// The current state slot, or `nil` when both fail their checksum.
    package func state() -> State? {
        guard
            let (state, _) = try? PoolState.read(from: mapping.base, salt: identity.salt, path: mapping.path)
        else { return nil }
        return State(generation: state.generation, cleanShutdown: state.cleanShutdown)
    }

    /// The checkpoint: every transaction up to it is durably applied in place (`nil`: damaged).
    package func checkpoint() -> UInt64? {
        let word = Atomic64.loadAcquire(
            (mapping.base + HeapFormat.checkpointOffset).assumingMemoryBound(to: UInt64.self))
        return CheckedWord.decode(word, salt: identity.salt, tag: HeapFormat.checkpointOffset)
    }

    /// Whether the pool holds the transaction whose sealed redo record is
    /// `record` (as the log carries it): its sequence number is at most the
    /// checkpoint, or a byte-for-byte copy of the record is in its lane (at
    /// a line boundary; across lanes, reassembled from every part).
    ///
    /// A copy in the lane is one recovery replays: a lane's records are
    /// written one after another, each whole before the next starts, so the
    /// records before the copy are whole too; and a copy left from an
    /// earlier lap is covered by the checkpoint (a lane starts over only
    /// once the checkpoint passed everything in it).
    package func holds(record: UnsafeRawBufferPointer) -> Bool {
        guard let start = record.baseAddress, record.count >= HeapFormat.recordHeaderSize else {
            return false
        }
        let header = start.loadUnaligned(as: pmh_redo_record_header.self)
        if let checkpoint = checkpoint(), header.seq <= checkpoint { return true }
        let geometry = identity.geometry
        let lane = Int(header.lane)
        guard lane < geometry.laneCount, Int(header.length) == record.count else { return false }
        let laneStart = UnsafeRawPointer(mapping.base + geometry.laneOffset(lane))
        if let part = RecordParts.readHeader(laneStart, laneSize: geometry.laneSize, salt: identity.salt) {
            guard part.index == 0, part.seq == header.seq,
                let bytes = RecordParts.gather(
                    first: lane, base: mapping.base, geometry: geometry, salt: identity.salt)
            else { return false }
            return bytes.elementsEqual(record)
        }
        guard record.count <= geometry.laneSize else { return false }
        func matches(at position: Int) -> Bool {
            guard position % HeapFormat.line == 0, position + record.count <= geometry.laneSize else {
                return false
            }
            let candidate = laneStart + position
            return candidate.loadUnaligned(as: UInt64.self) == header.seq
                && memcmp(candidate, start, record.count) == 0
        }
        let hint = hints[lane]
        var position = matches(at: hint) ? hint : -1
        if position < 0 {
            for line in stride(from: 0, through: geometry.laneSize - record.count, by: HeapFormat.line)
            where matches(at: line) {
                position = line
                break
            }
        }
        guard position >= 0 else { return false }
        hints[lane] = (position + record.count + HeapFormat.line - 1) & ~(HeapFormat.line - 1)
        return true
    }
}
