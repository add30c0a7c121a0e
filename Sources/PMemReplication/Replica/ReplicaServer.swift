import Logging
import NIOCore
import NIOPosix
import PMemKit

/// `pmemctl replica serve`: accepts authenticated primaries on one address
/// and applies what they ship to one store. Everything runs on one event
/// loop thread, so the store is only ever used from that thread.
public final class ReplicaServer: @unchecked Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let store: ReplicaStore
    private let psk: PreSharedKey
    private let logger: Logger
    private var channel: Channel?

    /// A server for `store`, accepting primaries that hold `psk`.
    public init(store: ReplicaStore, psk: PreSharedKey, logger: Logger = Logger(label: "pmemkit.replica")) {
        self.store = store
        self.psk = psk
        self.logger = logger
    }

    /// Starts listening on `endpoint` (port 0: any free port); returns the bound port.
    @discardableResult
    public func start(listening endpoint: Endpoint) throws -> Int {
        let store = self.store
        let psk = self.psk
        let logger = self.logger
        let maxFrame = store.maxBatchBytes + 4096
        // Every connection is on the group's one loop: the count needs no lock.
        let pending = NIOLoopBoundBox.makeBoxSendingValue(
            PendingHandshakes(limit: WireFormat.maxPendingHandshakes), eventLoop: group.next())
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Until the peer proves the key it may send a handshake frame at most: read in small pieces.
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(
                    minimum: 64, initial: 1024, maximum: WireFormat.maxHandshakeFrame)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(
                        channel.pipeline.syncOperations, store: store, psk: psk, logger: logger,
                        maxFrame: maxFrame, pending: pending.value)
                }
            }
        do {
            let bound = try bootstrap.bind(host: endpoint.host, port: endpoint.port).wait()
            channel = bound
            return bound.localAddress?.port ?? endpoint.port
        } catch {
            throw PMemError(
                .system, operation: "replica serve", detail: "cannot listen on \(endpoint): \(error)")
        }
    }

    /// Batches are up to 1 MiB: an authenticated session reads in large
    /// pieces, not NIO's default 64 KiB at most.
    static let sessionReads = AdaptiveRecvByteBufferAllocator(
        minimum: 64 << 10, initial: 256 << 10, maximum: 1 << 20)

    /// The replica's pipeline: framing (a handshake frame's limit until the
    /// peer is authenticated), authentication, the bound on connections
    /// awaiting it, messages, the session.
    static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, store: ReplicaStore, psk: PreSharedKey,
        logger: Logger, maxFrame: Int, pending: PendingHandshakes
    ) throws {
        let limit = FrameLimit(authenticated: maxFrame)
        try pipeline.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
        try pipeline.addHandler(FrameEncoder())
        try pipeline.addHandler(FrameAuthenticator(role: .server, psk: psk, logger: logger, limit: limit))
        try pipeline.addHandler(HandshakeGate(pending: pending, sessionReads: sessionReads, logger: logger))
        try pipeline.addHandler(MessageCodec())
        try pipeline.addHandler(ReplicaSessionHandler(store: store, logger: logger))
    }

    /// Blocks until the server is closed.
    public func wait() throws {
        try channel?.closeFuture.wait()
    }

    /// Stops listening, ends every session, and releases the thread.
    public func close() throws {
        try? channel?.close().wait()
        try group.syncShutdownGracefully()
    }
}
