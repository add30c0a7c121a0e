import Foundation
import PMemKit

/// An unsafe shutdown found at open: a device under the pool counted one while
/// the pool was open (it was not closed cleanly, and a count rose since the
/// open that left it so). The platform then may not have saved what the
/// pool's stores had in flight: stores the program saw as durable may be lost,
/// which no redo log covers. PMDK's check, for NVDIMMs and CXL memdevs alike.
public struct UnsafeShutdown: Sendable, Equatable, Encodable {
    /// One device whose count rose.
    public struct Change: Sendable, Equatable, Encodable {
        /// `nvdimm:<unique id>`, `cxl:<serial>`.
        public var id: String
        /// Its name on this machine: `nmem1`.
        public var device: String
        /// The count recorded when the pool was opened.
        public var before: UInt64
        /// The count now.
        public var after: UInt64
    }

    /// The devices whose counts rose.
    public var changes: [Change]
    /// Problems the check at open found (nil when `UnsafeShutdownPolicy.ignore` skipped it).
    public var checkProblems: Int?
    /// Objects that check walked.
    public var checkedObjects: Int?

    enum CodingKeys: String, CodingKey {
        case changes
        case checkProblems = "check_problems"
        case checkedObjects = "checked_objects"
    }

    /// `nmem1 counted 42 -> 43`, every change.
    public var summary: String {
        changes.map { "\($0.device.isEmpty ? $0.id : $0.device) counted \($0.before) -> \($0.after)" }
            .joined(separator: ", ")
    }

    /// The changes between what was recorded and what the devices say now, when
    /// the pool was left open and the same devices are under it (a pool moved
    /// to other devices, or recorded by none, tells nothing).
    static func changes(recorded: [ShutdownCount]?, now: [ShutdownCount], leftOpen: Bool) -> [Change] {
        guard leftOpen, let recorded, !recorded.isEmpty else { return [] }
        let before = Dictionary(recorded.map { ($0.id, $0.count) }, uniquingKeysWith: { a, _ in a })
        let nowByID = Dictionary(
            now.map { (ShutdownRecord.storedID($0.id), $0) }, uniquingKeysWith: { a, _ in a })
        guard Set(before.keys) == Set(nowByID.keys) else { return [] }
        return nowByID.keys.sorted().compactMap { id in
            let current = nowByID[id]!
            guard let old = before[id], current.count != old else { return nil }
            return Change(id: id, device: current.device, before: old, after: current.count)
        }
    }
}

/// What `open` does after an unsafe shutdown.
public enum UnsafeShutdownPolicy: Sendable, Equatable {
    /// Walk the whole pool first (`HeapChecker`); open only when it is consistent
    /// (the default; the report says what was found).
    case check
    /// Refuse to open, changing nothing (PMDK's behaviour).
    case refuse
    /// Open without checking (the report still says it happened).
    case ignore
}
