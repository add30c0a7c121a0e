internal import CPMemReplication
import Foundation

/// The payload of a `baselineBegin` record (`pmr_baseline_begin`): which
/// pool the baseline copies, how large a file it needs, and the base its
/// pointers are written for.
struct BaselineBeginPayload: Equatable {
    var poolUUID: UUID
    /// Bytes of the pool (as read from the log: the replica checks it before use).
    var poolSize: UInt64
    var poolBase: UInt64

    /// The payload's bytes.
    var bytes: [UInt8] {
        let stored = pmr_baseline_begin(pool_uuid: poolUUID.uuid, pool_size: poolSize, pool_base: poolBase)
        return withUnsafeBytes(of: stored) { Array($0) }
    }

    /// Reads a payload (any alignment); `nil` when it is too short to be one.
    init?(_ payload: UnsafeRawBufferPointer) {
        guard payload.count >= MemoryLayout<pmr_baseline_begin>.size, let base = payload.baseAddress else {
            return nil
        }
        let stored = base.loadUnaligned(as: pmr_baseline_begin.self)
        self.init(
            poolUUID: UUID(uuid: stored.pool_uuid), poolSize: stored.pool_size, poolBase: stored.pool_base)
    }

    init(poolUUID: UUID, poolSize: UInt64, poolBase: UInt64) {
        self.poolUUID = poolUUID
        self.poolSize = poolSize
        self.poolBase = poolBase
    }
}
