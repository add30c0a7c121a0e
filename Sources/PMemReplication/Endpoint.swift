import PMemKit

/// A `HOST:PORT` address (`[::1]:7070` for IPv6).
public struct Endpoint: Sendable, Equatable, Hashable, CustomStringConvertible, Codable {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int

    /// An endpoint.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; throws `invalidArgument` naming the problem.
    public init(parsing text: String) throws {
        func bad(_ why: String) -> PMemError {
            PMemError(.invalidArgument, operation: "address", detail: "'\(text)' \(why) (expected HOST:PORT)")
        }
        guard let colon = text.lastIndex(of: ":") else { throw bad("has no port") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw bad("has no host") }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw bad("has no valid port")
        }
        self.init(host: host, port: port)
    }

    /// `HOST:PORT`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
