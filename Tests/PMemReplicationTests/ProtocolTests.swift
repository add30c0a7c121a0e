import Logging
import NIOCore
import NIOEmbedded
import TestSupport
import XCTest

@testable import PMemReplication

/// The protocol's handlers, driven deterministically with EmbeddedChannel:
/// two pipelines whose outbound bytes are handed to each other by the test.
final class ProtocolTests: XCTestCase {
    /// Collects what reaches the end of a pipeline.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ReplicationMessage
        var messages: [ReplicationMessage] = []
        var events: [AuthenticationEvent] = []
        var errors: [String] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            messages.append(unwrapInboundIn(data))
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? AuthenticationEvent { events.append(event) }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { errors.append("\(error)") }
    }

    private let logger = Logger(label: "test")

    private func key(_ byte: UInt8) throws -> PreSharedKey {
        try PreSharedKey(bytes: [UInt8](repeating: byte, count: 32))
    }

    private func pipeline(_ role: FrameAuthenticator.Role, key: PreSharedKey) throws -> (
        EmbeddedChannel, Recorder
    ) {
        let channel = EmbeddedChannel()
        let recorder = Recorder()
        let sync = channel.pipeline.syncOperations
        let limit = FrameLimit(authenticated: 1 << 20)
        try sync.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
        try sync.addHandler(FrameEncoder())
        try sync.addHandler(FrameAuthenticator(role: role, psk: key, logger: logger, limit: limit))
        try sync.addHandler(MessageCodec())
        try sync.addHandler(recorder)
        // An embedded channel that is never closed keeps its pipeline, handlers and their state alive
        // in a reference cycle (LeakSanitizer reports it): close it when the test ends.
        addTeardownBlock { _ = try? channel.finish(acceptAlreadyClosed: true) }
        return (channel, recorder)
    }

    /// Moves every byte one channel wrote into the other, both ways, until quiet.
    private func exchange(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            for (from, to) in [(a, b), (b, a)] {
                while let bytes = try from.readOutbound(as: ByteBuffer.self) {
                    guard to.isActive else { continue }
                    _ = try? to.writeInbound(bytes)
                    moved = true
                }
            }
        }
    }

    private func connect(_ server: EmbeddedChannel, _ client: EmbeddedChannel) throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try client.connect(to: address).wait()
        try server.connect(to: address).wait()
        try exchange(server, client)
    }

    func testPeersHoldingTheKeyAuthenticateAndExchangeMessages() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        let (client, clientSide) = try pipeline(.client, key: key(1))
        try connect(server, client)
        XCTAssertEqual(serverSide.events, [.established])
        XCTAssertEqual(clientSide.events, [.established])
        try client.writeAndFlush(ReplicationMessage.start(logUUID: UUID(), nextSequence: 7, epoch: 42)).wait()
        try server.writeAndFlush(ReplicationMessage.ack(appliedSequence: 6, appliedRecords: 6)).wait()
        try exchange(server, client)
        XCTAssertEqual(serverSide.messages.count, 1)
        guard case .start(_, let next, let epoch) = serverSide.messages.first else {
            return XCTFail("expected start")
        }
        XCTAssertEqual(next, 7)
        XCTAssertEqual(epoch, 42, "the primary's epoch travels in the start")
        XCTAssertEqual(clientSide.messages, [.ack(appliedSequence: 6, appliedRecords: 6)])
    }

    func testRecordsCrossTheWireEncrypted() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        let (client, _) = try pipeline(.client, key: key(1))
        try connect(server, client)
        // The application's data: a pattern no ciphertext would hold by chance.
        let secret = Array("card 4111-1111-1111-1111 expires 12/29; ".utf8)
        var records = ByteBufferAllocator().buffer(capacity: secret.count * 100)
        for _ in 0..<100 { records.writeBytes(secret) }
        try client.writeAndFlush(
            ReplicationMessage.records(firstSequence: 1, count: 1, epoch: 3, bytes: records)
        )
        .wait()
        var wire = ByteBuffer()
        while var part = try client.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&part) }
        let sent = Array(wire.readableBytesView)
        XCTAssertGreaterThan(sent.count, secret.count * 100, "the whole batch went out")
        let pattern = Array(secret[0..<16])
        let found = (0...(sent.count - pattern.count)).contains {
            Array(sent[$0..<$0 + pattern.count]) == pattern
        }
        XCTAssertFalse(found, "the application's bytes are readable on the wire")
        _ = try server.writeInbound(wire)
        guard case .records(_, _, let epoch, let bytes) = serverSide.messages.first else {
            return XCTFail("the replica decrypts the batch: \(serverSide.errors)")
        }
        XCTAssertEqual(epoch, 3)
        XCTAssertEqual(Array(bytes.readableBytesView), Array(records.readableBytesView))
    }

    func testAPeerWithAnotherKeyIsRejectedAndNothingGoesUp() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        let (client, clientSide) = try pipeline(.client, key: key(2))
        try connect(server, client)
        XCTAssertTrue(serverSide.events.isEmpty)
        XCTAssertTrue(clientSide.events.isEmpty)
        XCTAssertFalse(server.isActive, "the replica closed the connection")
        XCTAssertTrue(
            serverSide.errors.contains { $0.contains("unauthenticated peer") }, "\(serverSide.errors)")
        XCTAssertTrue(serverSide.messages.isEmpty)
    }

    func testAnAlteredFrameFailsItsTagAndClosesTheSession() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        let (client, _) = try pipeline(.client, key: key(1))
        try connect(server, client)
        var records = ByteBufferAllocator().buffer(capacity: 64)
        records.writeBytes([UInt8](repeating: 0xab, count: 64))
        try client.writeAndFlush(
            ReplicationMessage.records(firstSequence: 1, count: 1, epoch: 0, bytes: records)
        )
        .wait()
        var wire = ByteBuffer()
        while var part = try client.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&part) }
        wire.setInteger(UInt8(0x5a), at: wire.readerIndex + 30)
        _ = try? server.writeInbound(wire)
        XCTAssertTrue(serverSide.messages.isEmpty)
        XCTAssertFalse(server.isActive)
        XCTAssertTrue(
            serverSide.errors.contains { $0.contains("failed authentication") }, "\(serverSide.errors)")
    }

    func testAReplayedFrameIsRejected() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        let (client, _) = try pipeline(.client, key: key(1))
        try connect(server, client)
        try client.writeAndFlush(ReplicationMessage.ping).wait()
        var wire = ByteBuffer()
        while var part = try client.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&part) }
        try server.writeInbound(wire)
        XCTAssertEqual(serverSide.messages, [.ping])
        _ = try? server.writeInbound(wire)
        XCTAssertEqual(serverSide.messages, [.ping], "the same frame a second time does not pass")
        XCTAssertFalse(server.isActive)
    }

    func testAnOversizedFrameIsRefusedBeforeItIsRead() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(1 << 30), endianness: .little)
        wire.writeBytes([1, 2, 3])
        _ = try? server.writeInbound(wire)
        XCTAssertFalse(server.isActive)
        XCTAssertTrue(serverSide.errors.contains { $0.contains("refused") }, "\(serverSide.errors)")
    }

    func testBeforeAuthenticationAFrameLargerThanAHandshakeIsRefusedUnread() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(8192), endianness: .little)
        wire.writeBytes([WireFormat.FrameType.response.rawValue, 0, 0])
        _ = try? server.writeInbound(wire)
        XCTAssertFalse(server.isActive, "an 8 KiB frame is no handshake")
        XCTAssertTrue(serverSide.errors.contains { $0.contains("refused") }, "\(serverSide.errors)")
    }

    func testOnceAuthenticatedFramesUpToTheSessionLimitPass() throws {
        let (server, serverSide) = try pipeline(.server, key: key(1))
        let (client, _) = try pipeline(.client, key: key(1))
        try connect(server, client)
        let records = ByteBuffer(repeating: 0x5a, count: 256 << 10)
        try client.writeAndFlush(
            ReplicationMessage.records(firstSequence: 1, count: 1, epoch: 0, bytes: records)
        )
        .wait()
        try exchange(server, client)
        XCTAssertEqual(serverSide.messages.count, 1)
        XCTAssertTrue(server.isActive)
    }

    func testMalformedMessagesDoNotParse() throws {
        let allocator = ByteBufferAllocator()
        for bytes: [UInt8] in [
            [99], [WireFormat.FrameType.ack.rawValue, 1, 2], [WireFormat.FrameType.records.rawValue],
        ] {
            var frame = allocator.buffer(bytes: bytes)
            XCTAssertThrowsError(try MessageCodec.decode(&frame))
        }
        let uuid = UUID()
        for message in [
            ReplicationMessage.resume(
                .init(logUUID: uuid, appliedSequence: 3, appliedRecords: 2, poolUUID: nil)),
            .start(logUUID: uuid, nextSequence: 4, epoch: 12), .ack(appliedSequence: 9, appliedRecords: 9),
            .reject("why"), .ping,
        ] {
            var frame = MessageCodec.encode(message, allocator: allocator)
            XCTAssertEqual(try MessageCodec.decode(&frame), message)
        }
    }

    func testTheReplicaSessionRejectsADamagedBatchAndAppliesNothing() throws {
        let dir = TemporaryDirectory()
        let list = try ReplicatedList(pool: dir.file("pool"), log: dir.file("log"))
        try list.push(20)
        let region = try LogRegion.open(path: dir.file("log"))
        let store = try ReplicaStore(directory: dir.file("replica"))
        let channel = EmbeddedChannel()
        addTeardownBlock { _ = try? channel.finish(acceptAlreadyClosed: true) }
        try channel.pipeline.syncOperations.addHandler(ReplicaSessionHandler(store: store, logger: logger))
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireUserInboundEventTriggered(AuthenticationEvent.established)
        guard case .resume(let position) = try channel.readOutbound(as: ReplicationMessage.self) else {
            return XCTFail("the replica reports its position first")
        }
        XCTAssertEqual(position.appliedSequence, 0)
        try channel.writeInbound(ReplicationMessage.start(logUUID: region.uuid, nextSequence: 1, epoch: 0))
        let all = batches(of: region)
        var good = ByteBufferAllocator().buffer(bytes: all[0].bytes)
        try channel.writeInbound(
            ReplicationMessage.records(firstSequence: all[0].first, count: 3, epoch: 0, bytes: good))
        guard case .ack(let acked, _) = try channel.readOutbound(as: ReplicationMessage.self) else {
            return XCTFail("expected an ack")
        }
        XCTAssertEqual(acked, store.state.appliedSequence)
        var damaged = all[1].bytes
        damaged[100] ^= 1
        good = ByteBufferAllocator().buffer(bytes: damaged)
        _ = try? channel.writeInbound(
            ReplicationMessage.records(firstSequence: all[1].first, count: 1, epoch: 0, bytes: good))
        guard case .reject(let reason) = try channel.readOutbound(as: ReplicationMessage.self) else {
            return XCTFail("expected a reject")
        }
        XCTAssertTrue(reason.contains("checksum"), reason)
        XCTAssertEqual(store.state.appliedSequence, acked, "nothing of the damaged batch was applied")
        try list.close()
    }
}
