import ArgumentParser
import PMemReplication

/// The ranges the numeric options of `pmemctl ha` and `pmemctl replica`
/// accept, checked in `validate()`: a value outside is a usage error (exit 2)
/// naming the option and the range, before anything runs.
enum NumericRange {
    /// `--battery-ms`: the drain's deadline (the agent's own limit).
    static let batteryMs = HAAgent.Configuration.batteryMillisecondsRange
    /// `--timeout-ms` of the control commands: up to 10 minutes.
    static let controlTimeoutMs = 1...600_000
    /// `--watch-pid`: a process, not a process group (0 and negative numbers name groups to kill(2)).
    static let pid: ClosedRange<Int32> = 1...Int32.max
    /// The port of an address the agent connects to.
    static let port = 1...65535
}

/// Throws a usage error unless `value` lies in `range`.
func requireRange<T: BinaryInteger>(_ value: T, _ range: ClosedRange<T>, _ option: String) throws {
    guard range.contains(value) else {
        throw ValidationError(
            "\(option) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
    }
}
