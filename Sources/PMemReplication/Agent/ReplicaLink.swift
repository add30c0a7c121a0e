import NIOCore

/// The agent's view of one replica: its connection, where it stands, and
/// what has been shipped to it. Used on the agent's event loop only.
final class ReplicaLink: @unchecked Sendable {
    /// Where a link is in its life.
    enum Phase: String, Codable {
        /// No connection; one will be attempted.
        case disconnected
        /// Connecting, or in the handshake.
        case connecting
        /// Receiving records.
        case streaming
        /// Cannot be caught up from this log (needs a new store seeded from another replica).
        case stale
        /// Refused by the agent or by the replica (another log, a failed check).
        case refused
    }

    let endpoint: Endpoint
    var phase = Phase.disconnected
    var channel: Channel?
    /// The last sequence the replica durably applied.
    var acked: UInt64 = 0
    /// Whether `acked` is known (a session reported it).
    var ackKnown = false
    /// The last sequence sent in this session.
    var sent: UInt64 = 0
    /// Batches sent and not yet acknowledged: their last sequence and bytes.
    var inFlight: [(last: UInt64, bytes: Int)] = []
    var inFlightBytes = 0
    /// When the replica last showed progress or answered.
    var lastHeard = NIODeadline.distantPast
    var reconnects = 0
    var bytesShipped: UInt64 = 0
    var recordsShipped: UInt64 = 0
    var lastError: String?
    /// Earliest time of the next connection attempt.
    var retryAt = NIODeadline.distantPast
    /// Delay before the next attempt after a failure, doubling to a limit.
    var backoff = ReplicaLink.firstBackoff
    /// The backoff of a link that has not failed since its last session started.
    static let firstBackoff = TimeAmount.milliseconds(50)

    init(endpoint: Endpoint) { self.endpoint = endpoint }

    /// Records an acknowledgement; returns whether it moved forward. One
    /// past what was sent is ignored: it is not the replica's to give, and
    /// taken it would let the log be reclaimed past unsent records (and
    /// `acked + 1` overflow at 2^64 - 1).
    func acknowledge(_ sequence: UInt64, now: NIODeadline) -> Bool {
        lastHeard = now
        guard !ackKnown || sequence > acked, sequence <= sent else { return false }
        acked = sequence
        ackKnown = true
        while let first = inFlight.first, first.last <= sequence {
            inFlightBytes -= first.bytes
            inFlight.removeFirst()
        }
        return true
    }

    /// Forgets the session (the connection closed).
    func reset() {
        channel = nil
        inFlight.removeAll()
        inFlightBytes = 0
        sent = acked
    }
}

/// The agent's end of one replica connection: hands the replica's messages
/// to the agent and tells it when the connection is authenticated, writable
/// again, or gone.
final class ShipperHandler: ChannelInboundHandler {
    typealias InboundIn = ReplicationMessage
    typealias OutboundOut = ReplicationMessage

    private let agent: HAAgent
    private let link: ReplicaLink

    init(agent: HAAgent, link: ReplicaLink) {
        self.agent = agent
        self.link = link
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        agent.received(unwrapInboundIn(data), from: link, channel: context.channel)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { agent.pump(link) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        agent.closed(link, channel: context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        link.lastError = "\(error)"
        context.close(promise: nil)
    }
}
