import Foundation
import NIOCore
import PMemKit

/// The agent's control socket (a Unix socket beside the log): a client
/// sends one command line (`status`, `metrics`, `power-fail`) and reads the
/// answer until the agent closes the connection.
///
/// Requests are bounded in bytes (a line of 256, a request of 8 KiB), not in
/// characters: one character can hold any number of combining scalars.
final class ControlHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The longest command line, in bytes.
    static let maxLine = 256
    private var line: [UInt8] = []
    private var answered = false
    private let answer: (String) -> String

    init(answer: @escaping (String) -> String) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // One command per connection: what follows its line is not read.
        guard !answered else { return }
        var bytes = unwrapInboundIn(data)
        line += bytes.readBytes(length: bytes.readableBytes) ?? []
        guard line.count <= Self.maxLine else { return context.close(promise: nil) }
        guard let end = line.firstIndex(of: UInt8(ascii: "\n")) else { return }
        answered = true
        let reply = answer(String(decoding: line[..<end], as: UTF8.self).trimmingCharacters(in: .whitespaces))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(string: reply))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

/// Answers Prometheus scrapes: any `GET /metrics` gets the metrics text
/// (the agent's, or a failover node's with its agent's while it is primary).
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The longest request head, in bytes.
    static let maxRequest = 8192
    private var request: [UInt8] = []
    private var answered = false
    private let metrics: (EventLoop) -> EventLoopFuture<String>

    /// Serves what `metrics` renders at once.
    convenience init(metrics: @escaping () -> String) {
        self.init { loop in loop.makeSucceededFuture(metrics()) }
    }

    /// Serves what `metrics` renders, perhaps on another loop (a future on the one given).
    init(metrics: @escaping (EventLoop) -> EventLoopFuture<String>) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var bytes = unwrapInboundIn(data)
        request += bytes.readBytes(length: bytes.readableBytes) ?? []
        guard request.count <= Self.maxRequest else { return context.close(promise: nil) }
        let text = String(decoding: request, as: UTF8.self)
        guard text.contains("\r\n\r\n") else { return }
        answered = true
        let found = text.hasPrefix("GET /metrics ")
        let channel = context.channel
        let body = found ? metrics(channel.eventLoop) : channel.eventLoop.makeSucceededFuture("not found\n")
        body.whenComplete { result in
            let text = (try? result.get()) ?? "metrics unavailable\n"
            let head =
                "HTTP/1.1 \(found ? "200 OK" : "404 Not Found")\r\nContent-Type: text/plain; version=0.0.4\r\n"
                + "Content-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n"
            channel.writeAndFlush(channel.allocator.buffer(string: head + text)).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }
}

/// Talks to a running agent through its control socket.
public enum AgentControl {
    /// How long a client waits for the agent by default (connect, send and the whole answer).
    public static let defaultTimeout = Duration.seconds(5)

    /// The control socket of the agent serving `log`.
    public static func socketPath(forLog log: String) -> String { log + ".sock" }

    /// Sends `command` and returns the agent's answer, waiting at most
    /// `timeout` in all (to connect, to send, and for the whole answer).
    /// Throws `notFound` when no agent listens there, and `busy` (ETIMEDOUT)
    /// when one accepts but does not answer in time.
    public static func send(_ command: String, socket path: String, timeout: Duration = defaultTimeout)
        throws -> String
    {
        let timeout = TimeAmount(timeout)
        let deadline = NIODeadline.now() + timeout
        func silent() -> PMemError {
            PMemError(
                .busy, operation: "ha", errno: ETIMEDOUT,
                detail: "the agent at \(path) did not answer within \(seconds(timeout)) s")
        }
        let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PMemError.system("socket", errno: errno) }
        defer { Foundation.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw PMemError(.invalidArgument, operation: "control", detail: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        // A Unix socket's connect and send wait (a full backlog, a full
        // buffer) at most the send timeout; the answer is read under poll.
        var limit = timeval(
            tv_sec: Int(timeout.nanoseconds / 1_000_000_000),
            tv_usec: Int(timeout.nanoseconds % 1_000_000_000 / 1000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS { throw silent() }
            throw PMemError(.notFound, operation: "ha", detail: "no HA agent answers on \(path)")
        }
        let line = Array((command + "\n").utf8)
        guard Glibc.send(fd, line, line.count, Int32(MSG_NOSIGNAL)) == line.count else {
            if errno == EAGAIN || errno == EWOULDBLOCK { throw silent() }
            throw PMemError.system("write", errno: errno, detail: path)
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline - .now()
            guard left > .zero else { throw silent() }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(clamping: (left.nanoseconds + 999_999) / 1_000_000))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                if ready == 0 { throw silent() }
                throw PMemError.system("poll", errno: errno, detail: path)
            }
            let n = Foundation.read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            reply += chunk[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// A timeout as seconds for a message: "5", "0.3".
    static func seconds(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0
            ? "\(milliseconds / 1000)" : String(format: "%g", Double(milliseconds) / 1000)
    }
}

extension TimeAmount {
    /// The same span, saturated at the largest amount (a `Duration` can be longer).
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        self = overflow || carry ? (seconds < 0 ? .nanoseconds(.min) : .nanoseconds(.max)) : .nanoseconds(sum)
    }
}
