import Foundation

/// An error from PMemKit: what was being done, the errno where the system
/// gave one, and a one-line explanation fit for a terminal.
public struct PMemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, coarsely, so callers can react without parsing text.
    public enum Kind: String, Sendable, Codable {
        /// The caller passed something that cannot work (bad size, mode, alignment).
        case invalidArgument = "invalid_argument"
        /// The named device, region, namespace or file does not exist.
        case notFound = "not_found"
        /// The object is in use (mounted, mapped, active).
        case busy
        /// The platform or kernel lacks what the operation needs.
        case unsupported
        /// A system call or library call failed.
        case system
        /// On-media data failed validation.
        case corrupt
    }

    /// The error's class.
    public let kind: Kind
    /// The operation that failed, for example `"mmap"` or `"create-namespace"`.
    public let operation: String
    /// The errno value, when the failure came from the system.
    public let errno: Int32?
    /// A one-line explanation naming the problem.
    public let detail: String

    /// Creates an error.
    public init(_ kind: Kind, operation: String, errno: Int32? = nil, detail: String) {
        self.kind = kind
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    /// An error from a failed system call, classified by its errno.
    public static func system(_ operation: String, errno: Int32, detail: String? = nil) -> PMemError {
        let text = String(cString: strerror(errno))
        return PMemError(
            kind(forErrno: errno), operation: operation, errno: errno,
            detail: detail.map { "\($0): \(text)" } ?? text)
    }

    /// The class that best describes an errno.
    public static func kind(forErrno errno: Int32) -> Kind {
        switch errno {
        case ENOENT, ENODEV, ENXIO: return .notFound
        case EBUSY: return .busy
        case EINVAL, ERANGE, ENAMETOOLONG: return .invalidArgument
        case EOPNOTSUPP, ENOTTY, ENOSYS: return .unsupported
        default: return .system
        }
    }

    /// `operation: detail`, one line.
    public var description: String { "\(operation): \(detail)" }
}
