import Foundation
import Logging
import PMemKit

/// Keeps a term of etcd leadership alive on a thread of its own (etcd's
/// calls block; the agent's event loop must not): renews the lease every
/// third of its TTL, publishes each renewal in the log's `LeaseFence` at
/// once (the application's admission reads it), and, when leadership is
/// gone — etcd says the lease expired or the key is another's, or etcd
/// could not be reached for as long as the term was sure to last — clears
/// the fence first and then tells its owner.
///
/// With `campaignAgain`, a lost term is followed by campaigns as `.primary`
/// (leading again only if nobody else led meanwhile) until one wins or
/// another node is found to have led.
final class LeaseKeeper: @unchecked Sendable {
    /// What the keeper reports, on its own thread.
    enum Event {
        /// The term was renewed (or a new one won).
        case renewed(Leadership.Term)
        /// Leadership is gone, for this reason; the fence is already cleared.
        case lost(String)
        /// Another node led since this one: it must not lead again.
        case superseded(by: String)
    }

    private let leadership: Leadership
    private let fence: LeaseFence
    private let logger: Logger
    private let campaignAgain: Bool
    private let report: @Sendable (Event) -> Void
    private let condition = NSCondition()
    private var stopping = false
    private var term: Leadership.Term?
    /// Whether `start` ran (the thread is not kept: a stored Thread holds
    /// its closure, which holds the keeper, after the thread ended).
    private var started = false
    /// Signalled when the thread's loop returned.
    private let exited = DispatchSemaphore(value: 0)

    init(
        leadership: Leadership, term: Leadership.Term, fence: LeaseFence, campaignAgain: Bool, logger: Logger,
        report: @escaping @Sendable (Event) -> Void
    ) {
        self.leadership = leadership
        self.term = term
        self.fence = fence
        self.campaignAgain = campaignAgain
        self.logger = logger
        self.report = report
        fence.publish(epoch: term.epoch, validUntil: term.validUntil)
    }

    /// Starts renewing.
    func start() {
        started = true
        Thread.detachNewThread { [self] in
            Thread.current.name = "pmemkit-lease"
            run()
            exited.signal()
        }
    }

    /// Stops renewing and waits for the thread (at most one etcd request's
    /// timeout); with `resign`, revokes the lease so another node may lead at
    /// once. The fence is cleared either way, and nothing is reported after.
    func stop(resign: Bool) {
        condition.lock()
        let first = !stopping
        stopping = true
        let term = self.term
        self.term = nil
        condition.broadcast()
        condition.unlock()
        fence.revoke()
        if first && started { exited.wait() }
        if resign, let term {
            do {
                try leadership.resign(term)
                logger.info("resigned leadership at epoch \(term.epoch)")
            } catch {
                logger.warning(
                    "could not resign at epoch \(term.epoch) (the lease expires on its own): \(error)")
            }
        }
    }

    /// Sleeps until `instant` (monotonic ns) or `stop`; false when stopping.
    private func sleep(until instant: UInt64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !stopping {
            let now = LeaseFence.monotonicNow()
            guard now < instant else { return true }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(instant - now) / 1e9))
        }
        return false
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    private func run() {
        while let current = currentTerm() {
            let period = UInt64(current.ttlSeconds) * 1_000_000_000 / 3
            guard sleep(until: current.renewedAt + period) else { return }
            do {
                if let renewed = try leadership.renew(current) {
                    guard replace(current, with: renewed) else { return }
                    fence.publish(epoch: renewed.epoch, validUntil: renewed.validUntil)
                    report(.renewed(renewed))
                } else {
                    lose(
                        current,
                        "etcd says the lease of epoch \(current.epoch) expired or its key is another's")
                }
            } catch {
                if LeaseFence.monotonicNow() >= current.validUntil {
                    lose(current, "etcd could not be reached for the lease's whole life (\(error))")
                } else {
                    logger.warning("lease renewal at epoch \(current.epoch) failed, trying again: \(error)")
                    guard sleep(until: LeaseFence.monotonicNow() + 200_000_000) else { return }
                }
            }
            if currentTerm() == nil && !isStopping {
                guard campaignAgain, let won = campaignUntilWon() else { return }
                condition.lock()
                term = won
                condition.unlock()
                fence.publish(epoch: won.epoch, validUntil: won.validUntil)
                report(.renewed(won))
            }
        }
    }

    private func currentTerm() -> Leadership.Term? {
        condition.lock()
        defer { condition.unlock() }
        return term
    }

    /// Installs a renewal unless the term was stopped meanwhile.
    private func replace(_ old: Leadership.Term, with new: Leadership.Term) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping, term == old else { return false }
        term = new
        return true
    }

    private func lose(_ term: Leadership.Term, _ reason: String) {
        fence.revoke()
        condition.lock()
        if self.term == term { self.term = nil }
        condition.unlock()
        logger.error("leadership lost: \(reason)")
        report(.lost(reason))
    }

    /// Campaigns as `.primary` every third of the TTL until it wins (the
    /// term), another node turns out to have led since (nil, reported), or `stop`.
    private func campaignUntilWon() -> Leadership.Term? {
        let period = UInt64(leadership.configuration.ttlSeconds) * 1_000_000_000 / 3
        while !isStopping {
            do {
                switch try leadership.campaignAsPrimary() {
                case .won(let term):
                    logger.info("leading again at epoch \(term.epoch)")
                    return term
                case .replaced(let other, _, _):
                    report(.superseded(by: other))
                    return nil
                case .ownKeyRemains(let epoch):
                    // This node's own key from the lost term, until etcd expires it.
                    logger.info(
                        "this node's key of epoch \(epoch) is still in etcd; waiting for it to expire")
                }
            } catch {
                logger.warning("campaign failed: \(error)")
            }
            guard sleep(until: LeaseFence.monotonicNow() + period) else { return nil }
        }
        return nil
    }
}
