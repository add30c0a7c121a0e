import PMemKit

/// A pointer stored in a persistent object: in memory it is a plain native
/// pointer (8 bytes, null when empty), so following it is one load. When a
/// pool is opened at another address, the heap rewrites every such field it
/// knows of (the type's pointer offsets) before handing the heap out.
@frozen
public struct PersistentPointer<Pointee>: Equatable, Hashable, @unchecked Sendable {
    /// The native pointer; `nil` for a null persistent pointer.
    public var address: UnsafeMutablePointer<Pointee>?

    /// Wraps a native pointer into the heap.
    @inlinable public init(_ address: UnsafeMutablePointer<Pointee>?) {
        self.address = address
    }

    /// The null pointer.
    @inlinable public static var null: PersistentPointer { PersistentPointer(nil) }

    /// Whether the pointer is null.
    @inlinable public var isNull: Bool { address == nil }

    /// The object pointed to. Stores through `pointee` bypass transactions:
    /// they are neither logged nor flushed (use `Transaction.write`).
    @inlinable public var pointee: Pointee {
        unsafeAddress { UnsafePointer(address!) }
        nonmutating unsafeMutableAddress { address! }
    }

    /// The address of one field of the object, for `Transaction.write(_:to:)`.
    @inlinable public func field<Value>(_ path: WritableKeyPath<Pointee, Value>) -> UnsafeMutablePointer<
        Value
    > {
        let offset = MemoryLayout<Pointee>.offset(of: path)!
        return UnsafeMutableRawPointer(address!).advanced(by: offset).assumingMemoryBound(to: Value.self)
    }

    /// The raw address, for heap bookkeeping.
    @inlinable public var rawAddress: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(address) }
}

/// What every `PersistentPointer` is, whatever it points to; lets the heap
/// recognise pointer fields among a type's key paths.
public protocol PersistentPointerField {}

extension PersistentPointer: PersistentPointerField {}

/// A Swift struct stored in the heap. Declare its pointer fields by key path:
///
/// ```swift
/// struct Node: PersistentType {
///     var value: Int
///     var next: PersistentPointer<Node>
///     static var persistentPointers: [PartialKeyPath<Node>] { [\.next] }
/// }
/// ```
///
/// The type must be a plain struct of trivial fields (no classes, strings or
/// arrays): its bytes are stored as they are in memory.
public protocol PersistentType {
    /// The stable name stored in the pool; by default the fully qualified type name.
    static var persistentName: String { get }
    /// Key paths of every `PersistentPointer` field.
    static var persistentPointers: [PartialKeyPath<Self>] { get }
}

extension PersistentType {
    /// The fully qualified type name.
    public static var persistentName: String { String(reflecting: Self.self) }
    /// No pointer fields.
    public static var persistentPointers: [PartialKeyPath<Self>] { [] }

    /// The description the heap stores: offsets come from `MemoryLayout.offset(of:)`.
    public static func typeDescription() throws -> TypeDescription {
        guard _isPOD(Self.self) else {
            throw PMemError(
                .invalidArgument, operation: "register type",
                detail:
                    "type '\(persistentName)' holds references or other non-trivial fields and cannot live in PMem"
            )
        }
        var offsets: [Int] = []
        for path in persistentPointers {
            guard type(of: path).valueType is PersistentPointerField.Type else {
                throw PMemError(
                    .invalidArgument, operation: "register type",
                    detail: "type '\(persistentName)': key path \(path) is not a PersistentPointer field")
            }
            guard let offset = MemoryLayout<Self>.offset(of: path) else {
                throw PMemError(
                    .invalidArgument, operation: "register type",
                    detail: "type '\(persistentName)': key path \(path) is not a stored field")
            }
            offsets.append(offset)
        }
        return try TypeDescription(
            name: persistentName, size: MemoryLayout<Self>.size, alignment: MemoryLayout<Self>.alignment,
            pointerOffsets: offsets)
    }
}
