import Foundation
import PMemKit

/// The replica role: serve the store, watch the leader, take over when it is gone.
extension FailoverNode {
    /// Serves the store until this node won a takeover (`.lead`) or was stopped (`.end`).
    func serveUntilTakeover() throws -> Step {
        let server = ReplicaServer(store: store, psk: configuration.psk, logger: logger)
        let port = try server.start(listening: configuration.listen)
        defer { try? server.close() }
        record(
            "replica", .replica, epoch: store.state.epoch,
            "serving \(configuration.storeDirectory) on \(Endpoint(host: configuration.listen.host, port: port))"
        )
        var leaderlessSince: ContinuousClock.Instant?
        var lastProblem = ""
        while !stopRequested.isSet {
            let (seconds, attoseconds) = configuration.pollInterval.components
            Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
            do {
                // The state file is read once a poll: for the position published and the ranking.
                let state = servedState
                try members.publish(position(state))
                if try leadership.leader() != nil {
                    leaderlessSince = nil
                    continue
                }
                let since = leaderlessSince ?? .now
                leaderlessSince = since
                if let term = try takeOverIfFirst(leaderlessFor: ContinuousClock.now - since, state: state) {
                    return .lead(term, promote: true)
                }
                lastProblem = ""
            } catch let error as PMemError {
                if error.detail != lastProblem { logger.warning("\(error.detail)") }
                lastProblem = error.detail
            }
        }
        return .end
    }

    /// Campaigns when this node should: after the others had `settle` to
    /// publish their final positions, at once if it outranks every live
    /// member, or after one more lease TTL otherwise. Returns the term won.
    private func takeOverIfFirst(leaderlessFor elapsed: Duration, state: ReplicaState) throws
        -> Leadership.Term?
    {
        guard elapsed >= configuration.settle, ContinuousClock.now >= campaignNotBefore else { return nil }
        let mine = position(state)
        guard state.poolUUID != nil else {
            throw PMemError(
                .notFound, operation: "ha node",
                detail:
                    "no leader, but \(configuration.storeDirectory) holds no pool copy yet: cannot take over")
        }
        let others = try members.positions().filter { $0.name != mine.name }
        let better = others.filter { $0.outranks(mine) }
        let deferral = Duration.seconds(configuration.leadership.ttlSeconds)
        if let best = better.max(by: { $1.outranks($0) }), elapsed < configuration.settle + deferral {
            logger.info(
                "no leader: \(best.name) holds more (transaction \(best.lastTransaction) at epoch \(best.epoch)); deferring to it"
            )
            return nil
        }
        record(
            "campaigning", .replica, epoch: mine.epoch,
            "no leader for \(elapsed.formatted(.units(allowed: [.milliseconds]))); this node holds transaction "
                + "\(mine.lastTransaction) at epoch \(mine.epoch)"
                + (better.isEmpty
                    ? ", the most of the live members" : "; the members ahead did not take over"))
        switch try leadership.campaign(.takeover) {
        case .won(let term):
            record("took-over", .primary, epoch: term.epoch, "won the leader key at epoch \(term.epoch)")
            return term
        case .held(let other, let epoch):
            logger.info("\(other) took over first, at epoch \(epoch)")
            return nil
        case .superseded(let other):
            logger.info("\(other) took over first")
            return nil
        }
    }
}
