import Logging
import NIOCore

/// The connections of one replica server that have not authenticated yet,
/// counted against a limit. Used on the server's one event loop only.
final class PendingHandshakes {
    /// The most connections awaiting authentication held at once.
    let limit: Int
    /// Connections awaiting authentication now.
    private(set) var count = 0

    init(limit: Int) { self.limit = limit }

    /// Counts one more connection unless the limit is reached.
    func admit() -> Bool {
        guard count < limit else { return false }
        count += 1
        return true
    }

    /// A counted connection authenticated or closed.
    func release() { count -= 1 }
}

/// Bounds what peers that have not proven the key cost the replica: a
/// connection is closed at once when `PendingHandshakes` is full, counted
/// until it authenticates or closes, and only once it authenticated reads
/// in the session's large pieces (before, the channel reads in small ones,
/// so a silent or slow peer pins kilobytes, not a megabyte). Sits after the
/// `FrameAuthenticator`, whose `AuthenticationEvent` it waits for.
final class HandshakeGate: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let pending: PendingHandshakes
    private let sessionReads: RecvByteBufferAllocator
    private let logger: Logger
    private var counted = false

    /// A gate counting in `pending`; an authenticated connection reads with `sessionReads`.
    init(pending: PendingHandshakes, sessionReads: RecvByteBufferAllocator, logger: Logger) {
        self.pending = pending
        self.sessionReads = sessionReads
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        guard pending.admit() else {
            logger.warning(
                "replication peer refused: \(pending.limit) connections already await authentication",
                metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")"])
            context.close(promise: nil)
            return
        }
        counted = true
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? AuthenticationEvent, event == .established {
            settle()
            try? context.channel.syncOptions?.setOption(.recvAllocator, value: sessionReads)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        settle()
        context.fireChannelInactive()
    }

    /// The connection no longer awaits authentication.
    private func settle() {
        guard counted else { return }
        counted = false
        pending.release()
    }
}
