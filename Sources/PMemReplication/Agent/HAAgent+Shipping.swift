import NIOCore
@_spi(CrashPoints) import PMemKit

/// Records out and acknowledgements in: what each replica lacks is shipped
/// up to its window, the poll loop finds new records and keeps idle links
/// alive, and log space a quorum acknowledged is reclaimed.
extension HAAgent {
    /// A message from a replica (on the loop).
    func received(_ message: ReplicationMessage, from link: ReplicaLink, channel: Channel) {
        guard link.channel === channel else { return }
        let now = NIODeadline.now()
        switch message {
        case .resume(let position):
            resume(link, at: position, channel: channel, now: now)
        case .ack(let applied, _):
            if link.acknowledge(applied, now: now) {
                CrashPoints.reach("agent.ship.acked")
                reclaim()
                if isDraining { checkDrain() }
            }
            pump(link)
        case .reject(let reason):
            link.lastError = reason
            logger.warning("replica \(link.endpoint) ended the session: \(reason)")
            channel.close(promise: nil)
        case .start, .records, .ping:
            link.lastError = "replica sent a message only a primary sends"
            channel.close(promise: nil)
        }
    }

    /// Ships what the replica lacks, up to the window (everything during a drain).
    func pump(_ link: ReplicaLink) {
        guard link.phase == .streaming, let channel = link.channel else { return }
        // A term that may have lapsed ships nothing: another node may lead by now.
        guard mayShip else { return }
        let epoch = self.epoch
        let window = isDraining ? Int.max : configuration.windowBytes
        // Each frame is flushed as it is made: the socket takes it at once, the
        // channel turns writable again, and several frames stay in flight.
        while channel.isWritable && link.inFlightBytes < window {
            var next = link.sent + 1
            if let baseline = verifier.skip(at: next) {
                // Records the primary's pool was not shown to hold, superseded by a later baseline.
                link.sent = baseline - 1
                next = baseline
            }
            guard next >= index.firstSequence else {
                link.phase = .stale
                link.lastError = "records from \(next) were reclaimed before this replica acknowledged them"
                channel.close(promise: nil)
                return
            }
            guard
                let run = index.run(
                    from: next, through: shippableSequence, maxBytes: configuration.batchBytes)
            else { break }
            // One copy out of the ring; the header goes in front while the buffer is only ours.
            let headroom = ReplicationMessage.recordsHeaderSize
            var buffer = channel.allocator.buffer(capacity: headroom + run.bytes)
            buffer.moveWriterIndex(to: headroom)
            ReplicationMessage.setRecordsHeader(&buffer, at: 0, first: next, count: run.count, epoch: epoch)
            buffer.moveReaderIndex(to: headroom)
            buffer.writeBytes(
                UnsafeRawBufferPointer(
                    start: region.ring + Int(run.position % UInt64(region.capacity)), count: run.bytes))
            link.sent += UInt64(run.count)
            link.inFlight.append((link.sent, run.bytes))
            link.inFlightBytes += run.bytes
            link.bytesShipped += UInt64(run.bytes)
            link.recordsShipped += UInt64(run.count)
            channel.writeAndFlush(
                ReplicationMessage.records(
                    firstSequence: next, count: run.count, epoch: epoch, bytes: buffer),
                promise: nil)
            CrashPoints.reach("agent.ship.sent")
        }
    }

    // MARK: The poll loop

    /// Looks for new records, ships them, keeps links alive, reclaims space.
    func schedulePoll() {
        loop.scheduleTask(in: state.value.pollDelay) { [self] in
            guard !isStopped else { return }
            let found = refreshRecords()
            let now = NIODeadline.now()
            for link in links {
                switch link.phase {
                case .streaming:
                    pump(link)
                    keepAlive(link, now: now)
                case .disconnected where now >= link.retryAt:
                    connect(link)
                default:
                    break
                }
            }
            reclaim()
            if isDraining { checkDrain() }
            state.value.pollDelay =
                found > 0 || isDraining ? Self.busyPoll : min(state.value.pollDelay * 2, Self.idlePoll)
            schedulePoll()
        }
    }

    /// Pings an idle replica; drops one that stopped answering while it has records to take.
    func keepAlive(_ link: ReplicaLink, now: NIODeadline) {
        guard let channel = link.channel else { return }
        let silent = max(now - link.lastHeard, .zero)
        let waiting = link.inFlightBytes > 0 || link.sent < shippableSequence
        if waiting && silent > configuration.idleTimeout {
            link.lastError = "no acknowledgement for \(silent.nanoseconds / 1_000_000) ms"
            logger.warning("replica \(link.endpoint): \(link.lastError!); reconnecting")
            channel.close(promise: nil)
        } else if silent > .seconds(1) && link.inFlightBytes == 0 {
            link.lastHeard = now - .milliseconds(500)
            channel.writeAndFlush(ReplicationMessage.ping, promise: nil)
        }
    }

    /// Moves the reclaim point past what a quorum of replicas acknowledged.
    func reclaim() {
        let acks = links.map { $0.ackKnown ? $0.acked : index.firstSequence - 1 }.sorted(by: >)
        let safe = acks[quorum - 1]
        guard safe >= index.firstSequence else { return }
        region.storeReclaimPoint(
            .init(
                position: index.position(after: safe), sequence: safe + 1,
                transaction: index.entry(safe)?.transaction ?? 0))
        CrashPoints.reach("agent.reclaim.stored")
        index.drop(through: safe)
        verifier.forget(before: index.firstSequence)
    }
}
