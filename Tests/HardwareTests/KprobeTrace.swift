import Foundation

/// A kprobe event on a kernel function, read back through tracefs: the proof that a
/// path inside the kernel ran, where a call's return value only says it did not fail.
///
/// Each hit is one line of the trace with the event's fetched arguments
/// (`region="region1"`). The event is removed when the object goes away.
final class KprobeTrace {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Where tracefs is (mounted here when it is not yet).
    static let tracing = "/sys/kernel/tracing"

    let group = "pmemkit_test"
    let event: String

    /// Places a probe named `event` at the entry of kernel `function`, fetching
    /// `arguments` (kprobe_events syntax, `region=+0(+0(%di)):string`), and starts tracing.
    init(event: String, function: String, arguments: String) throws {
        self.event = event
        try Self.mountTracefs()
        // A probe left by an earlier run that crashed is replaced.
        try? Self.append("-:\(group)/\(event)", to: "kprobe_events")
        try Self.append("p:\(group)/\(event) \(function) \(arguments)", to: "kprobe_events")
        try Self.write("0", to: "tracing_on")
        try Self.write("", to: "trace")
        try Self.write("1", to: "events/\(group)/\(event)/enable")
        try Self.write("1", to: "tracing_on")
    }

    deinit {
        try? Self.write("0", to: "events/\(group)/\(event)/enable")
        try? Self.append("-:\(group)/\(event)", to: "kprobe_events")
    }

    /// The trace lines of this event since the last `clear()` (or since the probe was placed).
    func hits() throws -> [String] {
        let text = try String(contentsOfFile: "\(Self.tracing)/trace", encoding: .utf8)
        return text.split(separator: "\n").map(String.init).filter {
            !$0.hasPrefix("#") && $0.contains(" \(event): ")
        }
    }

    /// Hits whose fetched `name` is `value` (`region="region1"`).
    func hits(where name: String, is value: String) throws -> Int {
        try hits().filter { $0.contains("\(name)=\"\(value)\"") }.count
    }

    /// This event's lines, for a failure message (empty when the trace cannot be read).
    var log: String { (try? hits().joined(separator: "\n")) ?? "" }

    /// Empties the trace.
    func clear() throws { try Self.write("", to: "trace") }

    private static func mountTracefs() throws {
        guard !FileManager.default.fileExists(atPath: "\(tracing)/kprobe_events") else { return }
        guard mount("tracefs", tracing, "tracefs", 0, nil) == 0 else {
            throw Failure(
                description: "cannot mount tracefs on \(tracing): \(String(cString: strerror(errno)))")
        }
        guard FileManager.default.fileExists(atPath: "\(tracing)/kprobe_events") else {
            throw Failure(
                description: "\(tracing)/kprobe_events is missing (a kernel without CONFIG_KPROBE_EVENTS)")
        }
    }

    private static func write(_ text: String, to file: String) throws {
        try put(text, file: file, flags: O_WRONLY | O_TRUNC)
    }

    private static func append(_ text: String, to file: String) throws {
        try put(text, file: file, flags: O_WRONLY | O_APPEND)
    }

    /// One write(2) of `text`: tracefs takes each write as one command.
    private static func put(_ text: String, file: String, flags: Int32) throws {
        let path = "\(tracing)/\(file)"
        let fd = open(path, flags | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array((text + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count || text.isEmpty else {
            throw Failure(description: "write '\(text)' to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
