/// What the application does when the log has no room because replicas
/// have not acknowledged enough of it (the agent reclaims only what they
/// acknowledged). Nothing is ever dropped silently: either the writer waits
/// for room, or it reports the shortage as an error.
public enum BackPressurePolicy: Sendable, Equatable {
    /// Wait for the agent to reclaim room, for at most this many seconds, then fail.
    case block(timeout: Double)
    /// Fail at once.
    case fail

    /// The longest wait a policy may ask for: a day, in seconds.
    public static let maximumTimeout: Double = 86_400

    /// The longest wait, in nanoseconds; a timeout beyond a day (or not a
    /// number) waits a day: converted as given, 1e300 seconds trapped.
    var timeoutNanoseconds: UInt64 {
        switch self {
        case .block(let timeout):
            let seconds = timeout.isNaN ? Self.maximumTimeout : min(max(0, timeout), Self.maximumTimeout)
            return UInt64(seconds * 1e9)
        case .fail: return 0
        }
    }

    /// Parses `block:SECONDS` (0 to a day) or `fail` (for the CLI and environment).
    public init?(_ text: String) {
        if text == "fail" {
            self = .fail
        } else if text.hasPrefix("block:"), let seconds = Double(text.dropFirst(6)),
            (0...Self.maximumTimeout).contains(seconds)
        {
            self = .block(timeout: seconds)
        } else {
            return nil
        }
    }
}
