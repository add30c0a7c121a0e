import Foundation
import Logging
import PMemKit
import PMemReplication

/// In-process replication pieces for the `replication` suite: a replica
/// server on loopback and an HA agent on its own thread (the same code as
/// `pmemctl replica serve` and `pmemctl ha agent`, without the processes).
final class ReplicationRig: @unchecked Sendable {
    let server: ReplicaServer
    let agent: HAAgent
    /// The replica's store (promote it after `stop`).
    let store: ReplicaStore
    let replica: Endpoint
    private let done = DispatchSemaphore(value: 0)
    private(set) var report: DrainReport?

    /// Serves a new store in `storeDirectory` and ships `logPath` to it.
    init(logPath: String, storeDirectory: String, psk: PreSharedKey, batteryMs: Int = 60_000) throws {
        var logger = Logger(label: "pmem-bench.replication")
        logger.logLevel = .error
        store = try ReplicaStore(directory: storeDirectory)
        server = ReplicaServer(store: store, psk: psk, logger: logger)
        let port = try server.start(listening: Endpoint(host: "127.0.0.1", port: 0))
        replica = Endpoint(host: "127.0.0.1", port: port)
        var configuration = HAAgent.Configuration(
            logPath: logPath, replicas: [replica], psk: psk, batteryMilliseconds: batteryMs,
            controlSocket: logPath + ".bench.sock")
        configuration.handlesSignals = false
        agent = try HAAgent(configuration: configuration, logger: logger)
        let agent = self.agent
        Thread.detachNewThread { [self] in
            report = try? agent.run()
            done.signal()
        }
    }

    /// Waits until the replica acknowledged every record now in the log.
    func waitCaughtUp() throws {
        while true {
            let status = try agent.status()
            if let acked = status.replicas[0].ackedSequence, acked == status.lastSequence,
                status.lastSequence > 0
            {
                return
            }
            usleep(200)
        }
    }

    /// Starts a drain (as a power-fail notice would) and waits for its report.
    func drain() -> DrainReport? {
        agent.powerFail()
        done.wait()
        return report
    }

    /// Stops the agent and the server.
    func stop() throws {
        if report == nil {
            agent.stop()
            done.wait()
        }
        try server.close()
    }
}

/// The raw-TCP baseline: `bytes` sent over loopback in 64 KiB writes to a
/// thread that reads and discards them; returns nanoseconds until the
/// receiver has read the last byte.
func rawTCPTransfer(bytes: Int) throws -> UInt64 {
    let (listener, bound) = try boundLoopbackSocket()
    var address = bound
    defer { close(listener) }
    guard listen(listener, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
    let received = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        let fd = CloseOnExec.accept(listener)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var total = 0
        while total < bytes {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            total += n
        }
        close(fd)
        received.signal()
    }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let chunk = [UInt8](repeating: 0x5a, count: 64 << 10)
    let start = nowNs()
    var sent = 0
    while sent < bytes {
        let n = chunk.withUnsafeBytes {
            send(fd, $0.baseAddress!, min(chunk.count, bytes - sent), Int32(MSG_NOSIGNAL))
        }
        guard n > 0 else { throw POSIXError(.EPIPE) }
        sent += n
    }
    received.wait()
    return nowNs() - start
}

/// A TCP socket bound to a free port on 127.0.0.1 (not listening yet), and its address.
func boundLoopbackSocket() throws -> (descriptor: Int32, address: sockaddr_in) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw PMemError.system("socket", errno: errno, detail: "loopback") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else {
        let error = errno
        close(fd)
        throw PMemError.system("bind", errno: error, detail: "a loopback port")
    }
    return (fd, address)
}
