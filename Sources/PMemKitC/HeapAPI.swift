// Public: the C entry points take the header's structs (pmemkit.h is this module's interface).
public import CPMemKitAPI
import Foundation
import PMemHeap
import PMemKit
import PMemReplication

/// A heap a C caller holds: the heap, its replication if attached, and the
/// transactions open on it (closing waits for none).
final class CHeap {
    let heap: PersistentHeap
    /// Guards everything below.
    let lock = NSLock()
    var openTransactions = 0
    var closing = false
    var replicator: Replicator?
    /// Replication was detached: the log no longer follows, so no transaction may run.
    var detached = false

    init(_ heap: PersistentHeap) { self.heap = heap }

    /// PMK_E_INVALID unless `[address, address+length)` is inside the pool.
    func checkRange(_ address: UnsafeRawPointer, _ length: Int, _ name: String) throws {
        try PMemKitC.checkRange(
            address, length, name, isInside: heap.base, heap.geometry.poolSize,
            outside: "not in the pool \(heap.path)")
    }
}

let heaps = HandleTable<CHeap>(kind: "heap", first: 0x2_0000)

/// Creates a pool (`pmk_heap_create`).
@_cdecl("pmk_heap_create")
public func pmkHeapCreate(
    _ path: UnsafePointer<CChar>?, _ poolSize: Int, _ options: UnsafePointer<pmk_heap_create_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    cCall {
        let out = try required(out, "out")
        let path = try string(path, "path")
        var createOptions = HeapCreateOptions()
        if let o = options?.pointee {
            let slab = try size(o.slab_size, "slab_size")
            let log = try size(o.log_size, "log_size")
            createOptions = HeapCreateOptions(
                slabSize: slab == 0 ? nil : slab, logSize: log == 0 ? nil : log,
                requirePMem: o.require_pmem != 0)
        }
        let heap = try PersistentHeap.create(path: path, size: size(poolSize, "size"), options: createOptions)
        out.pointee = heaps.insert(CHeap(heap))
    }
}

/// Opens a pool: recovery, relocation (`pmk_heap_open`).
@_cdecl("pmk_heap_open")
public func pmkHeapOpen(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32
{
    cCall {
        let out = try required(out, "out")
        out.pointee = heaps.insert(CHeap(try PersistentHeap.open(path: string(path, "path"))))
    }
}

/// Closes a pool with no transaction open, detaching replication first (`pmk_heap_close`).
@_cdecl("pmk_heap_close")
public func pmkHeapClose(_ handle: OpaquePointer?) -> Int32 {
    cCall {
        let held = try heaps.remove(handle) { held in
            held.lock.lock()
            defer { held.lock.unlock() }
            guard held.openTransactions == 0 else {
                throw CAPIError(
                    status: PMK_E_BUSY,
                    message: "\(held.heap.path): \(held.openTransactions) transaction(s) still open")
            }
            held.closing = true
        }
        held.replicator?.detach()
        try held.heap.close()
    }
}

/// What opening found (`pmk_heap_open_report`).
@_cdecl("pmk_heap_open_report")
public func pmkHeapOpenReport(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<pmk_open_report>?)
    -> Int32
{
    cCall {
        let out = try required(out, "report")
        let report = try heaps.lookup(handle).heap.openReport
        out.pointee = pmk_open_report(
            recovered: report.recoveredFromCrash ? 1 : 0,
            replayed: Int32(clamping: report.replayedTransactions),
            relocated: report.relocated ? 1 : 0, base: report.base,
            pointers_moved: report.relocation?.moved ?? 0)
    }
}

/// Registers a C type from its descriptor (`pmk_heap_register`).
@_cdecl("pmk_heap_register")
public func pmkHeapRegister(
    _ handle: OpaquePointer?, _ type: UnsafePointer<pmk_type_desc>?, _ typeID: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    cCall {
        let typeID = try required(typeID, "type_id")
        let heap = try heaps.lookup(handle).heap
        let desc = try required(type, "type").pointee
        let count = try size(desc.pointer_count, "pointer_count")
        let offsets: [Int]
        if count == 0 {
            offsets = []
        } else {
            let base = try required(desc.pointer_offsets, "pointer_offsets")
            offsets = (0..<count).map { base[$0] }
        }
        let description = try TypeDescription(
            name: string(desc.name, "type name"), size: size(desc.size, "size"),
            alignment: size(desc.alignment, "alignment"), pointerOffsets: offsets)
        typeID.pointee = try heap.register(description)
    }
}

/// The root object of a type, or NULL (`pmk_heap_root`).
@_cdecl("pmk_heap_root")
public func pmkHeapRoot(
    _ handle: OpaquePointer?, _ typeID: UInt32, _ root: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    cCall {
        let root = try required(root, "root")
        let heap = try heaps.lookup(handle).heap
        let line = heap.rootLine()
        guard line.address != 0 else {
            root.pointee = nil
            return
        }
        guard line.typeID == typeID else {
            let name =
                heap.types.indices.contains(Int(line.typeID) - 1)
                ? heap.types[Int(line.typeID) - 1].name : "?"
            throw CAPIError.invalid("the root is of type \(line.typeID) ('\(name)'), not \(typeID)")
        }
        root.pointee = UnsafeMutableRawPointer(bitPattern: UInt(line.address))
    }
}

/// Whether a pointer is in the pool (`pmk_heap_contains`).
@_cdecl("pmk_heap_contains")
public func pmkHeapContains(_ handle: OpaquePointer?, _ pointer: UnsafeRawPointer?) -> Int32 {
    var inside: Int32 = 0
    _ = cCall {
        let held = try heaps.lookup(handle)
        if let pointer, range(pointer, 1, isInside: held.heap.base, held.heap.geometry.poolSize) {
            inside = 1
        }
    }
    return inside
}

/// Checks a closed pool (`pmk_heap_check`).
@_cdecl("pmk_heap_check")
public func pmkHeapCheck(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<pmk_check_report>?)
    -> Int32
{
    cCall {
        let out = try required(out, "report")
        let report = try HeapChecker.check(path: string(path, "path"))
        var result = pmk_check_report()
        result.healthy = report.healthy ? 1 : 0
        result.problems = report.problemCount
        result.objects = report.objects
        result.pointers = report.pointers
        withUnsafeMutableBytes(of: &result.first_problem) { buffer in
            let text = Array((report.problems.first ?? "").utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: text)
            buffer[text.count] = 0
        }
        out.pointee = result
    }
}
