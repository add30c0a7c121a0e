import Foundation
import PMemReplication

/// A TCP proxy of the tests' own between the agent and a replica that
/// injects faults into the agent-to-replica stream, chunk by chunk and
/// deterministically: delays every chunk, drops, corrupts, or cuts the
/// connection at given chunk numbers (counted over all connections).
final class FaultProxy: @unchecked Sendable {
    /// What to do to the stream.
    struct Faults: Sendable {
        /// Pause before forwarding each chunk, microseconds.
        var delayMicroseconds: UInt32 = 0
        /// Chunks (numbered from 1) not forwarded at all.
        var drop: Set<Int> = []
        /// Chunks forwarded with one byte flipped.
        var corrupt: Set<Int> = []
        /// Chunks at which both connections are closed.
        var cut: Set<Int> = []
    }

    let port: Int
    private let listener: Int32
    private let upstream: Int
    private let lock = NSLock()
    private var faults: Faults
    private var chunks = 0
    private var healedAt: Int?
    private var sockets: [Int32] = []
    private var closed = false

    /// Listens on a free loopback port and forwards to 127.0.0.1:`upstream`.
    init(upstream: Int, faults: Faults) throws {
        self.upstream = upstream
        self.faults = faults
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Self.call(&address, { bind(fd, $0, $1) }) == 0, listen(fd, 8) == 0 else {
            throw ProtocolError("proxy: cannot listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Chunks forwarded (or dropped) from the agent so far.
    var chunksSeen: Int {
        lock.lock()
        defer { lock.unlock() }
        return chunks
    }

    /// Stops injecting faults (delays included).
    func heal() {
        lock.lock()
        if healedAt == nil { healedAt = chunks }
        faults = Faults()
        lock.unlock()
    }

    /// How many chunks had passed with faults when `heal()` was first called (`nil`: not yet).
    var chunksBeforeHealing: Int? {
        lock.lock()
        defer { lock.unlock() }
        return healedAt
    }

    /// Closes the listener and every connection.
    func close() {
        lock.lock()
        closed = true
        let all = sockets
        lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        Foundation.close(listener)
        for fd in all { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private static func call(
        _ address: inout sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Int32 {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstream)
            guard Self.call(&address, { connect(server, $0, $1) }) == 0 else {
                Foundation.close(client)
                Foundation.close(server)
                continue
            }
            lock.lock()
            if closed {
                lock.unlock()
                Foundation.close(client)
                Foundation.close(server)
                return
            }
            sockets += [client, server]
            lock.unlock()
            Thread.detachNewThread { [self] in pump(from: client, to: server, inject: true) }
            Thread.detachNewThread { [self] in pump(from: server, to: client, inject: false) }
        }
    }

    private func pump(from source: Int32, to destination: Int32, inject: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        defer {
            shutdown(source, Int32(SHUT_RDWR))
            shutdown(destination, Int32(SHUT_RDWR))
        }
        while true {
            let n = read(source, &buffer, buffer.count)
            guard n > 0 else { return }
            if inject {
                lock.lock()
                chunks += 1
                let number = chunks
                let current = faults
                lock.unlock()
                if current.delayMicroseconds > 0 { usleep(current.delayMicroseconds) }
                if current.cut.contains(number) { return }
                if current.drop.contains(number) { continue }
                if current.corrupt.contains(number) { buffer[n / 2] ^= 0x20 }
            }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes {
                    send(destination, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL))
                }
                guard m > 0 else { return }
                sent += m
            }
        }
    }
}
