import Foundation
import PMemKit

/// One blocking HTTP/1.1 connection for small JSON requests (etcd's gateway):
/// `POST` a body, read one response (`Content-Length` or chunked). Every
/// step is bounded by a deadline, so an endpoint that accepts and then says
/// nothing costs the caller the timeout, never a hang. Not thread-safe: the
/// owner serializes calls.
final class HTTPConnection {
    /// The server.
    let endpoint: Endpoint
    private var descriptor: Int32 = -1
    /// Bytes read past the last response (none with a conforming server).
    private var pending: [UInt8] = []

    /// A response: status code and body.
    struct Response {
        var status: Int
        var body: [UInt8]
    }

    init(endpoint: Endpoint) { self.endpoint = endpoint }

    deinit { close() }

    /// Closes the connection (the next request opens a new one).
    func close() {
        if descriptor >= 0 { Foundation.close(descriptor) }
        descriptor = -1
        pending.removeAll()
    }

    /// Posts `body` to `path` and returns the response; throws `system`
    /// naming the endpoint when it cannot connect, send or read before `deadline`.
    func post(_ path: String, body: [UInt8], deadline: ContinuousClock.Instant) throws -> Response {
        if descriptor < 0 { try connect(deadline: deadline) }
        do {
            let head =
                "POST \(path) HTTP/1.1\r\nHost: \(endpoint)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.count)\r\nConnection: keep-alive\r\n\r\n"
            try send(Array(head.utf8) + body, deadline: deadline)
            return try readResponse(deadline: deadline)
        } catch {
            close()
            throw error
        }
    }

    // MARK: Connecting

    private func connect(deadline: ContinuousClock.Instant) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard status == 0, let first = list else {
            throw PMemError(
                .notFound, operation: "etcd", detail: "\(endpoint): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let address = entry {
            entry = address.pointee.ai_next
            let fd = socket(
                address.pointee.ai_family,
                address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else {
                lastError = errno
                continue
            }
            if Foundation.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0
                || (errno == EINPROGRESS && wait(fd, for: Int16(POLLOUT), until: deadline)
                    && socketError(fd) == 0)
            {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                descriptor = fd
                return
            }
            lastError = errno == EINPROGRESS ? ETIMEDOUT : (socketError(fd) ?? errno)
            Foundation.close(fd)
        }
        throw PMemError.system("etcd", errno: lastError, detail: "connecting to \(endpoint)")
    }

    private func socketError(_ fd: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
        return value == 0 ? 0 : value
    }

    /// Waits until `fd` is ready for `events`; false at the deadline.
    private func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else {
                errno = ETIMEDOUT
                return false
            }
            let (seconds, attoseconds) = left.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    // MARK: Sending and reading

    private func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Foundation.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                    throw failure("sending to")
                }
            } else {
                throw failure("sending to")
            }
        }
    }

    /// Reads more bytes into `pending`; throws at end of stream or the deadline.
    private func fill(deadline: ContinuousClock.Instant) throws {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                pending.append(contentsOf: chunk[0..<n])
                return
            }
            if n == 0 {
                throw PMemError(
                    .system, operation: "etcd", errno: ECONNRESET, detail: "\(endpoint) closed the connection"
                )
            }
            guard errno == EAGAIN || errno == EINTR else { throw failure("reading from") }
            guard wait(descriptor, for: Int16(POLLIN), until: deadline) else { throw failure("reading from") }
        }
    }

    private func failure(_ doing: String) -> PMemError {
        let code = errno
        return code == ETIMEDOUT
            ? PMemError(.system, operation: "etcd", errno: code, detail: "\(endpoint) did not answer in time")
            : PMemError.system("etcd", errno: code, detail: "\(doing) \(endpoint)")
    }

    /// Bytes of the largest response accepted: etcd's answers here are a few hundred bytes.
    private static let maxResponse = 4 << 20

    private func malformed(_ why: String) -> PMemError {
        PMemError(.system, operation: "etcd", detail: "\(endpoint) sent a malformed HTTP response (\(why))")
    }

    /// Takes one line (without CRLF) from `pending`, reading as needed.
    private func line(deadline: ContinuousClock.Instant) throws -> String {
        while true {
            if let end = pending.firstIndex(of: 10) {
                var bytes = pending[..<end]
                if bytes.last == 13 { bytes = bytes.dropLast() }
                let text = String(decoding: bytes, as: UTF8.self)
                pending.removeSubrange(...end)
                return text
            }
            guard pending.count < 64 << 10 else { throw malformed("a header line over 64 KiB") }
            try fill(deadline: deadline)
        }
    }

    private func take(_ count: Int, deadline: ContinuousClock.Instant) throws -> [UInt8] {
        while pending.count < count { try fill(deadline: deadline) }
        let bytes = Array(pending[..<count])
        pending.removeSubrange(..<count)
        return bytes
    }

    private func readResponse(deadline: ContinuousClock.Instant) throws -> Response {
        let statusLine = try line(deadline: deadline)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw malformed("status line '\(statusLine.prefix(80))'")
        }
        var length: Int?
        var chunked = false
        var closes = false
        while true {
            let header = try line(deadline: deadline)
            if header.isEmpty { break }
            guard let colon = header.firstIndex(of: ":") else {
                throw malformed("header '\(header.prefix(80))'")
            }
            let name = header[..<colon].lowercased()
            let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                .lowercased()
            switch name {
            case "content-length":
                guard let n = Int(value), (0...Self.maxResponse).contains(n) else {
                    throw malformed("content length '\(value)'")
                }
                length = n
            case "transfer-encoding": chunked = value.contains("chunked")
            case "connection": closes = value == "close"
            default: break
            }
        }
        var body: [UInt8] = []
        if chunked {
            while true {
                let sizeLine = try line(deadline: deadline)
                guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16), size >= 0,
                    body.count + size <= Self.maxResponse
                else { throw malformed("chunk size '\(sizeLine.prefix(40))'") }
                if size == 0 {
                    // Trailers, then the empty line.
                    while try !line(deadline: deadline).isEmpty {}
                    break
                }
                body += try take(size, deadline: deadline)
                guard try line(deadline: deadline).isEmpty else { throw malformed("chunk without its CRLF") }
            }
        } else if let length {
            body = try take(length, deadline: deadline)
        } else {
            throw malformed("neither a length nor chunks")
        }
        if closes { close() }
        return Response(status: status, body: body)
    }
}
