import Foundation

/// A write that reached guarded memory outside every write window: caught
/// before it happened, and never let through.
public struct StrayWrite: Sendable, Equatable, CustomStringConvertible {
    /// The address written.
    public var address: UInt
    /// Bytes from the guarded range's base.
    public var offset: Int
    /// The guarded range's label.
    public var label: String
    /// What the guard's owner says lies there (an object and its field), if anything.
    public var object: String?
    /// The writing thread's kernel id, when known.
    public var threadID: Int32?
    /// The writing instruction, when known (not with userfaultfd).
    public var instructionPointer: UInt?

    /// One line: address, range, object, thread, instruction.
    public var description: String {
        var line = "stray write at 0x\(String(address, radix: 16)) (+\(offset)) in '\(label)'"
        if let object { line += ", hitting \(object)" }
        if let threadID { line += ", thread \(threadID)" }
        if let instructionPointer { line += ", ip 0x\(String(instructionPointer, radix: 16))" }
        return line
    }

    /// The default report: the description on stderr, prefixed `pmemkit: `.
    public static let reportOnStandardError: @Sendable (StrayWrite) -> Void = { stray in
        FileHandle.standardError.write(Data("pmemkit: \(stray)\n".utf8))
    }
}
