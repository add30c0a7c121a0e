import Foundation
import NIOCore
import PMemKit

/// Leadership through etcd: the agent campaigns before it ships anything,
/// ships only while its term surely lasts, stamps the term's epoch on every
/// session and batch, and stops shipping the moment the term is gone. The
/// application's commits follow the same term through the log's `LeaseFence`.
extension HAAgent {
    /// Campaigns as `.primary` until this node leads (blocking `run`, before
    /// anything is shipped); throws when another node led since this one, or
    /// when `stop()` came first. Does nothing without coordination.
    func lead() throws {
        guard let leadership, let coordination = configuration.coordination else { return }
        if let term = coordination.term {
            record("leading", epoch: term.epoch, "took over: renewing the term won before promotion")
            start(term: term, campaignAgain: coordination.whenLost == .campaign, recorded: true)
            return
        }
        var lastWait = ""
        record(
            "campaigning", epoch: 0,
            "as \(coordination.leadership.name), lease TTL \(coordination.leadership.ttlSeconds) s")
        while !stopRequested.isSet {
            let wait: String
            do {
                switch try leadership.campaignAsPrimary() {
                case .won(let term):
                    start(term: term, campaignAgain: coordination.whenLost == .campaign)
                    return
                case .replaced(_, let epoch, let why):
                    let detail = "\(why): this node must rejoin as a replica, not lead"
                    record("superseded", epoch: epoch, detail)
                    throw PMemError(.busy, operation: "ha agent", detail: detail)
                case .ownKeyRemains(let epoch):
                    wait =
                        "this node's key of epoch \(epoch) is still in etcd; waiting for its lease to expire"
                }
            } catch let error as PMemError where error.operation == "etcd" {
                wait = "etcd: \(error.detail); trying again"
            }
            if wait != lastWait { logger.warning("\(wait)") }
            lastWait = wait
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw PMemError(.busy, operation: "ha agent", detail: "stopped before this node led")
    }

    /// Installs a won term and starts renewing it.
    private func start(term: Leadership.Term, campaignAgain: Bool, recorded: Bool = false) {
        let keeper = LeaseKeeper(
            leadership: leadership!, term: term, fence: region.leaseFence, campaignAgain: campaignAgain,
            logger: logger
        ) { [weak self] event in
            // Weak: the agent holds the keeper; the keeper must not hold the agent.
            guard let self else { return }
            events.execute { self.leadershipChanged(event) }
        }
        self.keeper = keeper
        try? loop.submit { [self] in
            state.value.epoch = term.epoch
            state.value.leaseValidUntil = term.validUntil
            if !recorded { record("leading", epoch: term.epoch, "won the leader key") }
        }.wait()
        logger.info("leading at epoch \(term.epoch)")
        keeper.start()
    }

    /// Whether records may be shipped now: always without coordination,
    /// else only while the term surely lasts (on the loop).
    var mayShip: Bool {
        configuration.coordination == nil || LeaseFence.monotonicNow() < state.value.leaseValidUntil
    }

    /// The epoch stamped on sessions and batches (on the loop).
    var epoch: UInt64 { state.value.epoch }

    /// The keeper's news (on the loop).
    func leadershipChanged(_ event: LeaseKeeper.Event) {
        switch event {
        case .renewed(let term):
            let newEpoch = term.epoch != state.value.epoch
            state.value.leaseValidUntil = term.validUntil
            if newEpoch {
                state.value.epoch = term.epoch
                record("leading", epoch: term.epoch, "led again: nobody else led meanwhile")
                for link in links where link.phase == .disconnected { link.retryAt = .distantPast }
            }
        case .lost(let reason):
            state.value.leaseValidUntil = 0
            record("lost", epoch: state.value.epoch, reason)
            // Sessions at the old epoch end: nothing more is shipped under it.
            for link in links { link.channel?.close(promise: nil) }
            if configuration.coordination?.whenLost == .stop {
                end(
                    PMemError(
                        .busy, operation: "ha agent", detail: "leadership lost at epoch \(epoch): \(reason)"))
            }
        case .superseded(let other):
            let why = "\(other) led after this node: this node must rejoin as a replica, not lead"
            record("superseded", epoch: state.value.epoch, why)
            end(PMemError(.busy, operation: "ha agent", detail: why))
        }
    }

    /// Ends `run`, which throws `failure`.
    private func end(_ failure: PMemError) {
        guard !isStopped else { return }
        state.value.failure = failure
        lifecycle = .stopped(report: nil)
        finished.succeed(nil)
    }

    /// Adds a transition to the status (on the loop, or before the loop runs anything).
    func record(_ event: String, epoch: UInt64, _ detail: String) {
        let entry = LeadershipTransition(
            timeMs: UInt64(Date().timeIntervalSince1970 * 1000), event: event, epoch: epoch, detail: detail)
        if loop.inEventLoop {
            append(entry)
        } else {
            try? loop.submit { self.append(entry) }.wait()
        }
        logger.info("leadership: \(event) (epoch \(epoch)): \(detail)")
    }

    private func append(_ entry: LeadershipTransition) {
        state.value.transitions.append(entry)
        state.value.transitionCount += 1
        if state.value.transitions.count > 64 { state.value.transitions.removeFirst() }
    }

    /// The leadership part of the status (on the loop).
    func leadershipReport() -> LeadershipReport? {
        guard let coordination = configuration.coordination else { return nil }
        let now = LeaseFence.monotonicNow()
        let until = state.value.leaseValidUntil
        return LeadershipReport(
            node: coordination.leadership.name, epoch: state.value.epoch, leading: until > now,
            leaseMsLeft: until > now ? Double(until - now) / 1e6 : 0,
            leaseTTLSeconds: coordination.leadership.ttlSeconds, transitions: state.value.transitions,
            transitionCount: state.value.transitionCount)
    }
}

/// A flag set once, read from any thread.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    /// Sets the flag.
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    /// Whether it was set.
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
