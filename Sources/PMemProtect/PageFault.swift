/// How a range is divided into objects of one size, so that a fault names
/// the object it hit (a heap slab: its type and its objects).
public struct ObjectLayout: Sendable, Equatable {
    /// What the objects are (a type name).
    public var name: String
    /// Bytes per object.
    public var size: Int
    /// Where object 0 starts, from the range's base.
    public var firstOffset: Int

    /// A layout of `size`-byte objects called `name` from `firstOffset` on.
    public init(name: String, size: Int, firstOffset: Int = 0) {
        self.name = name
        self.size = size
        self.firstOffset = firstOffset
    }

    /// The object holding byte `offset` of the range, if any.
    public func object(atRangeOffset offset: Int) -> ObjectHit? {
        guard size > 0, offset >= firstOffset else { return nil }
        let relative = offset - firstOffset
        return ObjectHit(name: name, index: relative / size, offset: relative % size)
    }
}

/// The object a fault hit.
public struct ObjectHit: Sendable, Equatable, Codable {
    /// The layout's name (a type name).
    public var name: String
    /// The object's index in the range.
    public var index: Int
    /// The byte inside the object.
    public var offset: Int

    /// A hit.
    public init(name: String, index: Int, offset: Int) {
        self.name = name
        self.index = index
        self.offset = offset
    }
}

/// A fault in a protected range, as a handler sees it.
public struct PageFault: Sendable, Equatable {
    /// The faulting address (page-aligned where userfaultfd gives no exact address).
    public var address: UInt
    /// Bytes from the range's base.
    public var offset: Int
    /// A write (else a read).
    public var isWrite: Bool
    /// The faulting instruction; `nil` for userfaultfd, which does not say.
    public var instructionPointer: UInt?
    /// The faulting thread's kernel id; `nil` when the kernel does not say.
    public var threadID: Int32?
    /// How the range is protected.
    public var mechanism: ProtectionMechanism
    /// The range's label.
    public var label: String
    /// The object hit, when the range has an object layout.
    public var object: ObjectHit?

    /// A fault.
    public init(
        address: UInt, offset: Int, isWrite: Bool, instructionPointer: UInt? = nil, threadID: Int32? = nil,
        mechanism: ProtectionMechanism, label: String, object: ObjectHit? = nil
    ) {
        self.address = address
        self.offset = offset
        self.isWrite = isWrite
        self.instructionPointer = instructionPointer
        self.threadID = threadID
        self.mechanism = mechanism
        self.label = label
        self.object = object
    }
}
