import Foundation
import NIOCore
import NIOPosix

/// Sessions with replicas: connecting (and retrying with backoff), where a
/// replica's stream starts, refusing one this log cannot serve, and a
/// connection's end.
extension HAAgent {
    /// Connects to a replica whose link is down (on the loop).
    func connect(_ link: ReplicaLink) {
        guard !isStopped, link.phase == .disconnected, mayShip else { return }
        link.phase = .connecting
        let psk = configuration.psk
        let logger = self.logger
        let maxFrame = WireFormat.defaultMaxFrame
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(1))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // A handshake frame's limit until the replica proved the key.
                    let limit = FrameLimit(authenticated: maxFrame)
                    try pipeline.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
                    try pipeline.addHandler(FrameEncoder())
                    try pipeline.addHandler(
                        FrameAuthenticator(role: .client, psk: psk, logger: logger, limit: limit))
                    try pipeline.addHandler(MessageCodec())
                    try pipeline.addHandler(ShipperHandler(agent: self, link: link))
                }
            }
            .connect(host: link.endpoint.host, port: link.endpoint.port)
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    link.channel = channel
                case .failure(let error):
                    link.lastError = "\(error)"
                    link.phase = .disconnected
                    scheduleRetry(link)
                }
            }
    }

    /// Sets when a failed link is tried again: soon during a drain, else after its doubling backoff.
    func scheduleRetry(_ link: ReplicaLink) {
        link.retryAt = .now() + (isDraining ? .milliseconds(20) : link.backoff)
        link.backoff = min(link.backoff * 2, .seconds(2))
    }

    /// Where a replica that reported `position` resumes in a log whose held
    /// records run from `firstSequence` to `lastSequence`, or why it cannot
    /// (the phase its link takes, and the reason it is told).
    static func resumePoint(
        for position: ReplicaPosition, log: UUID, firstSequence: UInt64, lastSequence: UInt64,
        firstBaseline: UInt64?, epoch: UInt64 = 0
    ) -> Result<UInt64, RefusedResume> {
        guard position.epoch <= epoch else {
            return .failure(
                RefusedResume(
                    phase: .refused,
                    reason:
                        "the replica has seen epoch \(position.epoch), this primary leads at epoch \(epoch): "
                        + "this primary is stale"))
        }
        // A replica of an older epoch that follows another log: this primary
        // was promoted since; the replica starts again from a baseline.
        let switching = position.logUUID != nil && position.logUUID != log && position.epoch < epoch
        guard let follows = position.logUUID, position.appliedSequence != 0, !switching else {
            guard let baseline = firstBaseline else {
                return .failure(
                    RefusedResume(
                        phase: .stale,
                        reason: "this new replica needs a baseline and none is left in the log; "
                            + "seed its store from another replica's"))
            }
            return .success(baseline)
        }
        guard follows == log else {
            return .failure(
                RefusedResume(phase: .refused, reason: "the replica follows another log (\(follows))"))
        }
        // Checked before `+ 1`: a replica's report is input (2^64 - 1 made the agent trap).
        guard position.appliedSequence <= lastSequence else {
            return .failure(
                RefusedResume(
                    phase: .refused,
                    reason:
                        "the replica applied up to \(position.appliedSequence), past this log's last record "
                        + "\(lastSequence): it holds another history"))
        }
        let next = position.appliedSequence + 1
        guard next >= firstSequence else {
            return .failure(
                RefusedResume(
                    phase: .stale,
                    reason:
                        "the replica applied up to \(position.appliedSequence) but the log was reclaimed up to "
                        + "\(firstSequence - 1)"))
        }
        return .success(next)
    }

    /// Why a replica's session cannot start: the phase its link takes and what it is told.
    struct RefusedResume: Error, Equatable {
        let phase: ReplicaLink.Phase
        let reason: String
    }

    /// Decides where a replica's session starts, and starts it.
    func resume(_ link: ReplicaLink, at position: ReplicaPosition, channel: Channel, now: NIODeadline) {
        refreshRecords()
        let next: UInt64
        switch Self.resumePoint(
            for: position, log: region.uuid, firstSequence: index.firstSequence,
            lastSequence: index.lastSequence,
            firstBaseline: index.firstBaseline(), epoch: epoch)
        {
        case .success(let point): next = point
        case .failure(let refused): return refuse(link, refused.phase, channel: channel, refused.reason)
        }
        link.acked = next - 1
        link.ackKnown = true
        link.sent = next - 1
        link.inFlight.removeAll()
        link.inFlightBytes = 0
        link.lastHeard = now
        link.backoff = ReplicaLink.firstBackoff
        link.lastError = nil
        link.phase = .streaming
        channel.writeAndFlush(
            ReplicationMessage.start(logUUID: region.uuid, nextSequence: next, epoch: epoch), promise: nil)
        logger.info("replica \(link.endpoint) streaming from sequence \(next)")
        pump(link)
    }

    /// Tells a replica why this log cannot serve it, and closes the connection.
    func refuse(_ link: ReplicaLink, _ phase: ReplicaLink.Phase, channel: Channel, _ why: String) {
        link.lastError = why
        link.phase = phase
        logger.error("replica \(link.endpoint): \(why)")
        channel.writeAndFlush(ReplicationMessage.reject(why)).whenComplete { _ in channel.close(promise: nil)
        }
    }

    /// A replica's connection closed (on the loop).
    func closed(_ link: ReplicaLink, channel: Channel) {
        guard link.channel === channel else { return }
        if link.phase == .streaming { link.reconnects += 1 }
        link.reset()
        if link.phase == .stale || link.phase == .refused {
            // Try again now and then: the replica may have been reseeded, or the log may hold a new baseline.
            link.phase = .disconnected
            link.retryAt = .now() + .seconds(5)
        } else {
            link.phase = .disconnected
            scheduleRetry(link)
        }
    }
}
