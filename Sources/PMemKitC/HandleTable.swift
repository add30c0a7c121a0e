internal import CPMemKitAPI
import Foundation

/// The live handles of one kind (mappings, heaps). A C handle is a number
/// that is never reused, not an address: a handle used after its close is
/// found missing and gets PMK_E_CLOSED instead of touching freed memory.
final class HandleTable<Object: AnyObject>: @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [UInt: Object] = [:]
    private var next: UInt
    private let kind: String

    /// A table whose handles start at `first` (distinct per kind, so a heap
    /// handle passed as a mapping is not found).
    init(kind: String, first: UInt) {
        self.kind = kind
        self.next = first
    }

    func insert(_ object: Object) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        let handle = next
        next += 16
        objects[handle] = object
        return OpaquePointer(bitPattern: handle)!
    }

    /// The object behind `handle`; PMK_E_INVALID for NULL, PMK_E_CLOSED for one that is gone.
    func lookup(_ handle: OpaquePointer?) throws -> Object {
        guard let handle else { throw CAPIError.invalid("the \(kind) handle is NULL") }
        lock.lock()
        defer { lock.unlock() }
        guard let object = objects[UInt(bitPattern: handle)] else { throw closed(handle) }
        return object
    }

    /// Removes `handle`'s object if `shouldRemove` allows it (checked under the table's lock).
    func remove(_ handle: OpaquePointer?, if shouldRemove: (Object) throws -> Void = { _ in }) throws
        -> Object
    {
        guard let handle else { throw CAPIError.invalid("the \(kind) handle is NULL") }
        lock.lock()
        defer { lock.unlock() }
        guard let object = objects[UInt(bitPattern: handle)] else { throw closed(handle) }
        try shouldRemove(object)
        objects[UInt(bitPattern: handle)] = nil
        return object
    }

    private func closed(_ handle: OpaquePointer) -> CAPIError {
        CAPIError(status: PMK_E_CLOSED, message: "\(kind) handle \(handle) is closed or was never opened")
    }
}
