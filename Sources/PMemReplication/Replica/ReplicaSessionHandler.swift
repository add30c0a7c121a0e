import Logging
import NIOCore

/// The replica's side of a session, once the primary is authenticated:
/// reports where the store stands, follows the log the primary names,
/// applies each batch of records (the store checks checksums, continuity and
/// bounds before writing anything) and acknowledges what is durably applied.
/// A batch that fails a check is logged and rejected, and the session ends.
final class ReplicaSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ReplicationMessage
    typealias OutboundOut = ReplicationMessage

    private let store: ReplicaStore
    private let logger: Logger
    private var following = false
    /// The epoch of the primary this session serves (from its `start`).
    private var epoch: UInt64 = 0

    init(store: ReplicaStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? AuthenticationEvent, event == .established else {
            return context.fireUserInboundEventTriggered(event)
        }
        let state = store.state
        let position = ReplicaPosition(
            logUUID: state.logUUID, appliedSequence: state.appliedSequence,
            appliedRecords: state.appliedRecords,
            poolUUID: state.poolUUID, epoch: state.epoch)
        logger.info(
            "primary authenticated; resuming after sequence \(state.appliedSequence)",
            metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")"])
        context.writeAndFlush(wrapOutboundOut(.resume(position)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            switch unwrapInboundIn(data) {
            case .start(let log, let next, let epoch):
                // A stale primary is refused before anything of it is looked at; a
                // newer one may bring a new log (it was promoted): the store follows it.
                try store.follow(log: log, epoch: epoch)
                self.epoch = epoch
                let applied = store.state.appliedSequence
                guard applied == 0 || next <= applied + 1 else {
                    throw ProtocolError(
                        "the primary's log resumes at \(next) but this replica applied only up to \(applied)")
                }
                following = true
            case .records(let first, let count, let epoch, let bytes):
                guard following else { throw ProtocolError("records before the session started") }
                guard epoch == self.epoch else {
                    throw ProtocolError("a batch of epoch \(epoch) in a session of epoch \(self.epoch)")
                }
                // Another session (a newer primary) may have raised the store's epoch since this one started.
                try store.admit(epoch: epoch)
                let applied = try bytes.withUnsafeReadableBytes {
                    try store.apply(batch: $0, firstSequence: first)
                }
                logger.trace("applied \(applied) of \(count) records from \(first)")
                acknowledge(context: context)
            case .ping:
                acknowledge(context: context)
            case .reject(let reason):
                logger.warning("primary ended the session: \(reason)")
                context.close(promise: nil)
            case .resume, .ack:
                throw ProtocolError("a replica never receives resume or ack")
            }
        } catch {
            reject(context: context, "\(error)")
        }
    }

    private func acknowledge(context: ChannelHandlerContext) {
        let state = store.state
        context.writeAndFlush(
            wrapOutboundOut(
                .ack(appliedSequence: state.appliedSequence, appliedRecords: state.appliedRecords)),
            promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        reject(context: context, "\(error)")
    }

    /// Logs the rejection, tells the primary why (when the session is authenticated), and closes.
    private func reject(context: ChannelHandlerContext, _ why: String) {
        logger.error(
            "replication input rejected, nothing of it applied: \(why)",
            metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")"])
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.reject(why))).whenComplete { _ in channel.close(promise: nil) }
    }
}
