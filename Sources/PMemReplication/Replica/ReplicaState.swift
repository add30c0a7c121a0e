internal import CPMemReplication
import Foundation
import PMemKit

/// What a replica has durably applied, kept in two checksummed slots of the
/// store's `state` file (`SlotPair` of `pmr_replica_state_slot`), updated once per applied batch.
public struct ReplicaState: Sendable, Equatable, Codable {
    /// The last log sequence number applied (0: none).
    public var appliedSequence: UInt64 = 0
    /// Records applied since the store was created: equals `appliedSequence`
    /// minus the first sequence received, plus one, when no record was ever
    /// applied twice or skipped.
    public var appliedRecords: UInt64 = 0
    /// The heap commit sequence number of the last transaction applied.
    public var lastTransaction: UInt64 = 0
    /// When the primary appended the last record applied (ns since the epoch).
    public var lastTime: UInt64 = 0
    /// The first sequence number this store received (0: none yet).
    public var firstSequence: UInt64 = 0
    /// Generation of the current pool copy (`pool.<N>`; 0: none yet).
    public var poolGeneration: UInt64 = 0
    /// A baseline is being written into `pool.<poolGeneration + 1>`.
    public var inBaseline = false
    /// The log this store follows (nil until the first session).
    public var logUUID: UUID?
    /// The pool the current copy is of.
    public var poolUUID: UUID?
    /// The highest primary epoch this store has seen (0: none): batches and
    /// promotions from a lower one are refused.
    public var epoch: UInt64 = 0

    /// Where the two slots (`pmr_replica_state_slot`) start in the state file.
    static let slotsOffset = MemoryLayout<pmr_replica_state>.offset(of: \.slots)!
    /// Bytes of the state file (`pmr_replica_state`).
    static var fileSize: Int { MemoryLayout<pmr_replica_state>.size }
    static let seed: UInt64 = 0x5245_504c_5354_4154

    /// The slots of a state file mapped by `mapping`.
    static func slots(in mapping: PMemMapping) -> SlotPair<pmr_replica_state_slot> {
        SlotPair(mapping: mapping, offset: slotsOffset, seed: seed)
    }

    /// Reads the current slot; a new store (no valid slot) has the default
    /// state. Throws `corrupt` naming a counter out of range: the store adds
    /// to each, and a checksum that matches (it is not keyed) does not make
    /// one sane.
    static func read(_ slots: SlotPair<pmr_replica_state_slot>, path: String) throws -> ReplicaState {
        guard let slot = slots.current()?.value else { return ReplicaState() }
        for (name, value) in [
            ("applied sequence", slot.applied_sequence), ("applied records", slot.applied_records),
            ("first sequence", slot.first_sequence), ("pool generation", slot.pool_generation),
            ("epoch", slot.epoch),
        ] where value >= LogFormat.counterLimit {
            throw PMemError(
                .corrupt, operation: "replica store", detail: "\(path): \(name) \(value) is out of range")
        }
        let log = UUID(uuid: slot.log_uuid)
        let pool = UUID(uuid: slot.pool_uuid)
        return ReplicaState(
            appliedSequence: slot.applied_sequence, appliedRecords: slot.applied_records,
            lastTransaction: slot.last_transaction, lastTime: slot.last_time,
            firstSequence: slot.first_sequence,
            poolGeneration: slot.pool_generation, inBaseline: slot.flags & 1 != 0,
            logUUID: log == .zero ? nil : log, poolUUID: pool == .zero ? nil : pool, epoch: slot.epoch)
    }

    /// Writes this state into the slot not in use, persisted.
    func write(_ slots: SlotPair<pmr_replica_state_slot>) {
        slots.update { slot in
            slot.applied_sequence = appliedSequence
            slot.applied_records = appliedRecords
            slot.last_transaction = lastTransaction
            slot.last_time = lastTime
            slot.first_sequence = firstSequence
            slot.pool_generation = poolGeneration
            slot.flags = inBaseline ? 1 : 0
            slot.log_uuid = (logUUID ?? .zero).uuid
            slot.pool_uuid = (poolUUID ?? .zero).uuid
            slot.epoch = epoch
        }
    }
}
