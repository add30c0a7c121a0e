internal import CPMemKitAPI
import Foundation
import PMemHeap
import PMemKit
import PMemReplication

/// An open transaction of a C caller. Its handle is this object's address,
/// trusted only while it is the calling thread's open transaction (kept in
/// C thread-local storage), so a finished or foreign handle is refused
/// before it is dereferenced.
final class CTransaction {
    let owner: CHeap
    let tx: Transaction
    /// The replication that admitted it, if any.
    let replicator: Replicator?

    init(owner: CHeap, tx: Transaction, replicator: Replicator?) {
        self.owner = owner
        self.tx = tx
        self.replicator = replicator
    }

    /// The calling thread's open transaction, if `handle` is it.
    static func current(_ handle: OpaquePointer?) throws -> CTransaction {
        guard let handle else { throw CAPIError.invalid("the transaction handle is NULL") }
        let raw = UnsafeMutableRawPointer(handle)
        guard pmk_api_current_tx() == raw else {
            throw CAPIError(
                status: PMK_E_STATE,
                message:
                    "transaction \(handle) is not open on this thread (committed, aborted, or begun by another)"
            )
        }
        return Unmanaged<CTransaction>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Ends the transaction's C life: the thread's slot, the heap's count, the handle.
    func finish() {
        replicator?.endAdmission()
        pmk_api_set_current_tx(nil)
        owner.lock.lock()
        owner.openTransactions -= 1
        owner.lock.unlock()
        Unmanaged.passUnretained(self).release()
    }
}

/// Begins this thread's transaction (`pmk_tx_begin`).
@_cdecl("pmk_tx_begin")
public func pmkTxBegin(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    cCall {
        let out = try required(out, "out")
        if let open = pmk_api_current_tx() {
            throw CAPIError(
                status: PMK_E_STATE,
                message:
                    "this thread has transaction \(open) open; commit or abort it first (they do not nest)")
        }
        let held = try heaps.lookup(handle)
        held.lock.lock()
        guard !held.closing else {
            held.lock.unlock()
            throw CAPIError(status: PMK_E_CLOSED, message: "\(held.heap.path) is closing")
        }
        guard !held.detached else {
            held.lock.unlock()
            throw CAPIError(
                status: PMK_E_STATE, message: "replication of \(held.heap.path) was detached; close the heap")
        }
        held.openTransactions += 1
        let replicator = held.replicator
        held.lock.unlock()
        let tx: Transaction
        do {
            try replicator?.admit()
            do {
                tx = try held.heap.beginTransaction()
            } catch {
                replicator?.endAdmission()
                throw error
            }
        } catch {
            held.lock.lock()
            held.openTransactions -= 1
            held.lock.unlock()
            throw error
        }
        let raw = Unmanaged.passRetained(CTransaction(owner: held, tx: tx, replicator: replicator)).toOpaque()
        pmk_api_set_current_tx(raw)
        out.pointee = OpaquePointer(raw)
    }
}

/// Commits and ends a transaction (`pmk_tx_commit`).
@_cdecl("pmk_tx_commit")
public func pmkTxCommit(_ handle: OpaquePointer?) -> Int32 {
    cCall {
        let open = try CTransaction.current(handle)
        defer { open.finish() }
        try open.owner.heap.commitTransaction(open.tx)
    }
}

/// Drops and ends a transaction (`pmk_tx_abort`).
@_cdecl("pmk_tx_abort")
public func pmkTxAbort(_ handle: OpaquePointer?) -> Int32 {
    cCall {
        let open = try CTransaction.current(handle)
        open.owner.heap.abortTransaction(open.tx)
        open.finish()
    }
}

/// Allocates an object at commit (`pmk_tx_alloc`).
@_cdecl("pmk_tx_alloc")
public func pmkTxAlloc(
    _ handle: OpaquePointer?, _ typeID: UInt32, _ initial: UnsafeRawPointer?,
    _ object: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    cCall {
        let object = try required(object, "object")
        let open = try CTransaction.current(handle)
        object.pointee = try open.tx.allocate(typeID: typeID, initial: initial)
    }
}

/// Frees an object at commit (`pmk_tx_free`).
@_cdecl("pmk_tx_free")
public func pmkTxFree(_ handle: OpaquePointer?, _ object: UnsafeMutableRawPointer?) -> Int32 {
    cCall {
        let open = try CTransaction.current(handle)
        let object = try required(object, "object")
        try open.owner.checkRange(object, 1, "object")
        try open.tx.freeRaw(object)
    }
}

/// A logged store (`pmk_tx_write`).
@_cdecl("pmk_tx_write")
public func pmkTxWrite(
    _ handle: OpaquePointer?, _ destination: UnsafeMutableRawPointer?, _ source: UnsafeRawPointer?,
    _ length: Int
) -> Int32 {
    cCall {
        let open = try CTransaction.current(handle)
        let destination = try required(destination, "dst")
        let source = try required(source, "src")
        let length = try size(length, "len")
        guard length > 0 else { return }
        try open.owner.checkRange(destination, length, "dst")
        try open.tx.write(bytes: source, count: length, to: destination)
    }
}

/// Reads as the transaction sees the pool (`pmk_tx_read`).
@_cdecl("pmk_tx_read")
public func pmkTxRead(
    _ handle: OpaquePointer?, _ destination: UnsafeMutableRawPointer?, _ source: UnsafeRawPointer?,
    _ length: Int
) -> Int32 {
    cCall {
        let open = try CTransaction.current(handle)
        let destination = try required(destination, "dst")
        let source = try required(source, "src")
        let length = try size(length, "len")
        guard length > 0 else { return }
        try open.owner.checkRange(source, length, "src")
        open.tx.read(into: destination, from: source, count: length)
    }
}

/// Sets the root at commit (`pmk_tx_set_root`).
@_cdecl("pmk_tx_set_root")
public func pmkTxSetRoot(_ handle: OpaquePointer?, _ object: UnsafeMutableRawPointer?) -> Int32 {
    cCall {
        let open = try CTransaction.current(handle)
        guard let object else {
            try open.tx.setRoot(PersistentPointer<UInt8>.null)
            return
        }
        try open.owner.checkRange(object, 1, "object")
        try open.tx.setRoot(PersistentPointer(object.assumingMemoryBound(to: UInt8.self)))
    }
}
