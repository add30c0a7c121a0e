// Public: the C entry points take the header's structs (pmemkit.h is this module's interface).
public import CPMemKitAPI
import Foundation
import PMemHeap
import PMemKit
import PMemReplication

/// Attaches the heap to a log region (`pmk_replication_attach`).
@_cdecl("pmk_replication_attach")
public func pmkReplicationAttach(_ handle: OpaquePointer?, _ logPath: UnsafePointer<CChar>?, _ capacity: Int)
    -> Int32
{
    cCall {
        let held = try heaps.lookup(handle)
        let path = try string(logPath, "log_path")
        let bytes = try size(capacity, "log_capacity")
        held.lock.lock()
        defer { held.lock.unlock() }
        guard held.replicator == nil, !held.detached else {
            throw CAPIError(
                status: PMK_E_STATE, message: "\(held.heap.path) is already replicated (or was detached)")
        }
        guard held.openTransactions == 0 else {
            throw CAPIError(
                status: PMK_E_BUSY, message: "\(held.heap.path): attach with no transaction open")
        }
        var options = Replicator.Options()
        if bytes > 0 { options.logCapacity = bytes }
        held.replicator = try Replicator.attach(to: held.heap, logPath: path, options: options)
    }
}

/// Detaches replication cleanly (`pmk_replication_detach`).
@_cdecl("pmk_replication_detach")
public func pmkReplicationDetach(_ handle: OpaquePointer?) -> Int32 {
    cCall {
        let held = try heaps.lookup(handle)
        held.lock.lock()
        defer { held.lock.unlock() }
        guard let replicator = held.replicator else {
            throw CAPIError(status: PMK_E_STATE, message: "\(held.heap.path) is not replicated")
        }
        guard held.openTransactions == 0 else {
            throw CAPIError(status: PMK_E_BUSY, message: "\(held.heap.path): detach with no transaction open")
        }
        replicator.detach()
        held.replicator = nil
        held.detached = true
        // A commit that could not be logged: replicas lack it, and the caller should know.
        try replicator.check()
    }
}

/// Where replication stands (`pmk_replication_status`).
@_cdecl("pmk_replication_status")
public func pmkReplicationStatus(
    _ handle: OpaquePointer?, _ out: UnsafeMutablePointer<pmk_replication_status>?
) -> Int32 {
    cCall {
        let out = try required(out, "status")
        let held = try heaps.lookup(handle)
        held.lock.lock()
        let replicator = held.replicator
        held.lock.unlock()
        guard let replicator else {
            throw CAPIError(status: PMK_E_STATE, message: "\(held.heap.path) is not replicated")
        }
        out.pointee = pmk_replication_status(
            last_sequence: held.heap.lastCommittedSequence, wrote_baseline: replicator.wroteBaseline ? 1 : 0)
    }
}
