internal import CFaultShim

/// What a protected range allows its process: the same three levels as a
/// guest's pages in PMemVirt.
public enum PageAccess: String, Sendable, Codable, CaseIterable {
    /// Neither reads nor writes: both fault.
    case none
    /// Reads; writes fault.
    case read
    /// Reads and writes; nothing faults.
    case readWrite = "read-write"

    var shim: pmk_access {
        switch self {
        case .none: return PMK_ACCESS_NONE
        case .read: return PMK_ACCESS_READ
        case .readWrite: return PMK_ACCESS_READ_WRITE
        }
    }

    init?(shim value: Int32) {
        switch UInt32(bitPattern: value) {
        case PMK_ACCESS_NONE.rawValue: self = .none
        case PMK_ACCESS_READ.rawValue: self = .read
        case PMK_ACCESS_READ_WRITE.rawValue: self = .readWrite
        default: return nil
        }
    }
}
