internal import CPMemReplication
import Foundation
import PMemKit

/// What a directory given as a replica store holds, found by reading only:
/// nothing is created or written. A store that holds anything (a pool
/// copy, a journaled batch, a state) is never taken for a new, empty one:
/// damage is reported, one line naming what is damaged and what to do,
/// because starting over would let another primary overwrite the copy.
enum ReplicaStoreDirectory {
    /// What the directory is.
    enum Condition: Equatable {
        /// There is no such directory.
        case missing
        /// An empty directory (or one a store was made in and never used): a new store.
        case new
        /// A store whose state has a valid slot.
        case existing
    }

    /// The files a store keeps besides its pool copies.
    static let stateFile = "state"
    static let journalFile = "journal"
    static let lockFile = "lock"

    /// Classifies `directory`; throws `corrupt` for a store that is damaged
    /// and `invalidArgument` for a directory that is not a store.
    static func inspect(_ directory: String) throws -> Condition {
        var st = stat()
        guard stat(directory, &st) == 0 else {
            guard errno == ENOENT else { throw PMemError.system("stat", errno: errno, detail: directory) }
            return .missing
        }
        let kind = InputFile.Kind(mode: st.st_mode)
        guard kind == .directory else {
            throw PMemError(
                .invalidArgument, operation: "replica store",
                detail: "\(directory) is \(kind.rawValue), not a directory")
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        let pools = entries.filter { poolGeneration(of: $0) != nil }.sorted()
        let holdings = pools + (journalHasEntry(directory) ? ["a journal entry"] : [])
        let statePath = "\(directory)/\(stateFile)"
        func damaged(_ what: String) -> PMemError {
            let held = holdings.isEmpty ? "" : " (the store holds \(holdings.joined(separator: ", ")))"
            return PMemError(
                .corrupt, operation: "replica store",
                detail: "\(directory) is damaged: \(what)\(held); refusing to start it over as an empty "
                    + "store: seed a new store from another replica, or remove \(directory) to discard it")
        }
        guard entries.contains(stateFile) else {
            if !holdings.isEmpty { throw damaged("\(statePath) is missing") }
            if entries.contains(journalFile) { throw damaged("\(statePath) is missing beside its journal") }
            let foreign = entries.filter { $0 != lockFile }
            guard foreign.isEmpty else {
                throw PMemError(
                    .invalidArgument, operation: "replica store",
                    detail: "\(directory) is not a replica store (no \(stateFile) file) and is not empty; "
                        + "give an empty or new directory")
            }
            return .new
        }
        switch try readSlots(statePath) {
        case .valid(let state):
            let current = "pool.\(state.poolGeneration)"
            if state.poolGeneration > 0 && !pools.contains(current) {
                throw damaged("\(statePath) names \(current), which is missing")
            }
            let next = "pool.\(state.poolGeneration + 1)"
            if state.inBaseline && !pools.contains(next) {
                throw damaged("\(statePath) names \(next) (a baseline in progress), which is missing")
            }
            guard entries.contains(journalFile) else {
                throw damaged("\(directory)/\(journalFile) is missing")
            }
            return .existing
        case .neverWritten where holdings.isEmpty:
            // A store made by an earlier version and never used: nothing to lose.
            return .new
        case .neverWritten, .noValidSlot:
            throw damaged("neither slot of \(statePath) is valid")
        case .wrongSize(let size):
            throw damaged("\(statePath) is \(size) bytes, not \(ReplicaState.fileSize)")
        }
    }

    /// The generation N of a pool copy's file name `pool.N`.
    static func poolGeneration(of name: String) -> UInt64? {
        guard name.hasPrefix("pool.") else { return nil }
        let digits = name.dropFirst(5)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return UInt64(digits)
    }

    /// What the state file's slots hold.
    private enum Slots {
        case valid(ReplicaState)
        /// All zero: created, never written.
        case neverWritten
        case noValidSlot
        case wrongSize(Int)
    }

    private static func readSlots(_ path: String) throws -> Slots {
        let mapping = try PMemMapping(path: path, options: .init(readOnly: true))
        guard mapping.size == ReplicaState.fileSize else { return .wrongSize(mapping.size) }
        let slots = ReplicaState.slots(in: mapping)
        if slots.current() != nil { return .valid(try ReplicaState.read(slots, path: path)) }
        let bytes = UnsafeRawBufferPointer(start: mapping.base, count: mapping.size)
        return bytes.allSatisfy { $0 == 0 } ? .neverWritten : .noValidSlot
    }

    /// Whether the journal holds a valid entry (a batch was being applied, or was the last applied).
    private static func journalHasEntry(_ directory: String) -> Bool {
        let path = "\(directory)/\(journalFile)"
        guard access(path, R_OK) == 0,
            let mapping = try? PMemMapping(path: path, options: .init(readOnly: true)),
            mapping.size >= ReplicaJournal.dataOffset
        else { return false }
        // An entry that is whole but out of range is still something the store holds (damaged).
        do { return try ReplicaJournal(mapping: mapping).entry() != nil } catch { return true }
    }
}
