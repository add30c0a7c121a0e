import Foundation
import PMemKit

/// What a replica has durably applied, kept in two checksummed slots of the
/// store's `state` file (`SlotPair`), updated once per applied batch.
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

    enum Field {
        static let appliedSequence = 0
        static let appliedRecords = 8
        static let lastTransaction = 16
        static let lastTime = 24
        static let firstSequence = 32
        static let poolGeneration = 40
        static let flags = 48
        static let logUUID = 56
        static let poolUUID = 72
    }

    static let slotOffsets = [0, 128]
    static let fileSize = 4096
    static let seed: UInt64 = 0x5245_504c_5354_4154

    /// Reads the current slot; a new store (no valid slot) has the default state.
    static func read(_ slots: SlotPair) -> ReplicaState {
        guard let slot = slots.current() else { return ReplicaState() }
        let f = slot.fields
        let log = UUID(bytesAt: f + Field.logUUID)
        let pool = UUID(bytesAt: f + Field.poolUUID)
        return ReplicaState(
            appliedSequence: f.load(fromByteOffset: Field.appliedSequence, as: UInt64.self),
            appliedRecords: f.load(fromByteOffset: Field.appliedRecords, as: UInt64.self),
            lastTransaction: f.load(fromByteOffset: Field.lastTransaction, as: UInt64.self),
            lastTime: f.load(fromByteOffset: Field.lastTime, as: UInt64.self),
            firstSequence: f.load(fromByteOffset: Field.firstSequence, as: UInt64.self),
            poolGeneration: f.load(fromByteOffset: Field.poolGeneration, as: UInt64.self),
            inBaseline: f.load(fromByteOffset: Field.flags, as: UInt32.self) & 1 != 0,
            logUUID: log == .zero ? nil : log, poolUUID: pool == .zero ? nil : pool)
    }

    /// Writes this state into the slot not in use, persisted.
    func write(_ slots: SlotPair) {
        slots.update { f in
            f.storeBytes(of: appliedSequence, toByteOffset: Field.appliedSequence, as: UInt64.self)
            f.storeBytes(of: appliedRecords, toByteOffset: Field.appliedRecords, as: UInt64.self)
            f.storeBytes(of: lastTransaction, toByteOffset: Field.lastTransaction, as: UInt64.self)
            f.storeBytes(of: lastTime, toByteOffset: Field.lastTime, as: UInt64.self)
            f.storeBytes(of: firstSequence, toByteOffset: Field.firstSequence, as: UInt64.self)
            f.storeBytes(of: poolGeneration, toByteOffset: Field.poolGeneration, as: UInt64.self)
            f.storeBytes(of: inBaseline ? 1 : 0, toByteOffset: Field.flags, as: UInt32.self)
            (logUUID ?? .zero).store(to: f + Field.logUUID)
            (poolUUID ?? .zero).store(to: f + Field.poolUUID)
        }
    }
}
