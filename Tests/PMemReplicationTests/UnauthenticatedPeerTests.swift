import Foundation
import Logging
import NIOCore
import NIOPosix
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// What a peer without the key costs a replica: a frame larger than a
/// handshake is refused before it is buffered, connections awaiting
/// authentication are bounded in number and in time, and a primary holding
/// the key still connects.
final class UnauthenticatedPeerTests: XCTestCase {
    private let psk = try! PreSharedKey(bytes: [UInt8](repeating: 7, count: 32))

    /// Resident memory of this process, in bytes (`VmRSS`).
    private func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kilobytes = try XCTUnwrap(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes << 10
    }

    /// A plain TCP connection to the replica (no key, no handshake).
    private func rawConnection(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, connected == 0 else { throw PMemError.system("connect", errno: errno) }
        return fd
    }

    /// Whether the replica closed `fd` within `seconds` (a read sees the end or a reset).
    private func closedByPeer(_ fd: Int32, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var byte: UInt8 = 0
        while Date() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 50) > 0 else { continue }
            let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
            if n == 0 || (n < 0 && errno != EAGAIN) { return true }
        }
        return false
    }

    /// Completes the handshake as a primary would and returns the replica's first message.
    private func authenticate(port: Int) throws -> ReplicationMessage {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let first = group.next().makePromise(of: ReplicationMessage.self)
        let psk = self.psk
        let channel = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let limit = FrameLimit(authenticated: WireFormat.defaultMaxFrame)
                    try pipeline.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
                    try pipeline.addHandler(FrameEncoder())
                    try pipeline.addHandler(
                        FrameAuthenticator(
                            role: .client, psk: psk, logger: Logger(label: "test"), limit: limit))
                    try pipeline.addHandler(MessageCodec())
                    try pipeline.addHandler(FirstMessage(promise: first))
                }
            }
            .connect(host: "127.0.0.1", port: port).wait()
        defer { try? channel.close().wait() }
        return try first.futureResult.wait()
    }

    /// Hands the first message of a session to a promise.
    private final class FirstMessage: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ReplicationMessage
        let promise: EventLoopPromise<ReplicationMessage>
        init(promise: EventLoopPromise<ReplicationMessage>) { self.promise = promise }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            promise.succeed(unwrapInboundIn(data))
        }
        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ProtocolError("the replica closed the connection"))
        }
    }

    /// A replica on a new store in `dir`, listening on a free loopback port.
    private func startReplica(in dir: TemporaryDirectory) throws -> (ReplicaServer, port: Int) {
        let store = try ReplicaStore(directory: dir.file("replica"))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = ReplicaServer(store: store, psk: psk, logger: logger)
        return (server, try server.start(listening: Endpoint(host: "127.0.0.1", port: 0)))
    }

    func testPeersAnnouncingHugeFramesCannotGrowTheReplicaAndAPrimaryStillConnects() throws {
        let dir = TemporaryDirectory()
        let (server, port) = try startReplica(in: dir)
        defer { try? server.close() }
        let before = try residentBytes()
        // 32 peers announce a 64 MiB frame, then send 8 MiB of it each, 64 KiB at a time.
        let peers = try (0..<32).map { _ in try rawConnection(port: port) }
        defer { for fd in peers { close(fd) } }
        var announce = [UInt8](repeating: 0, count: 5)
        withUnsafeBytes(of: UInt32(64 << 20).littleEndian) { announce.replaceSubrange(0..<4, with: $0) }
        announce[4] = WireFormat.FrameType.response.rawValue
        for fd in peers { _ = send(fd, announce, announce.count, Int32(MSG_NOSIGNAL)) }
        let chunk = [UInt8](repeating: 0x41, count: 64 << 10)
        var sent = [Int](repeating: 0, count: peers.count)
        var open = Set(peers.indices)
        let deadline = Date().addingTimeInterval(20)
        while !open.isEmpty && Date() < deadline {
            for index in open.sorted() {
                let n = send(peers[index], chunk, chunk.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n > 0 { sent[index] += n }
                if (n < 0 && errno != EAGAIN) || sent[index] >= 8 << 20 { open.remove(index) }
            }
            usleep(1000)
        }
        usleep(300_000)
        let grown = try residentBytes() - before
        XCTAssertLessThan(
            grown, 48 << 20,
            "32 peers without the key grew the replica by \(grown >> 20) MiB (they sent \(sent.reduce(0, +) >> 20) MiB)"
        )
        for fd in peers {
            XCTAssertTrue(closedByPeer(fd, within: 2), "a peer announcing a 64 MiB frame is dropped")
        }
        guard case .resume(let position) = try authenticate(port: port) else {
            return XCTFail("a primary holding the key gets the replica's position")
        }
        XCTAssertEqual(position.appliedSequence, 0)
    }

    func testConnectionsAwaitingAuthenticationAreBoundedAndAPrimaryConnectsOnceTheyGo() throws {
        let dir = TemporaryDirectory()
        let (server, port) = try startReplica(in: dir)
        defer { try? server.close() }
        // Peers that connect and say nothing: only a bounded number is held.
        let idle = try (0..<40).map { _ in try rawConnection(port: port) }
        var held: [Int32] = []
        for fd in idle {
            if closedByPeer(fd, within: 0.2) { close(fd) } else { held.append(fd) }
        }
        XCTAssertLessThanOrEqual(held.count, 16, "connections awaiting authentication are bounded")
        XCTAssertGreaterThan(held.count, 0)
        for fd in held { close(fd) }
        usleep(100_000)
        guard case .resume = try authenticate(port: port) else {
            return XCTFail("a primary holding the key connects once the silent peers are gone")
        }
    }
}
