import Foundation
import Logging
import PMemKit

/// A member of a replica set that fails over without a person: while a
/// replica it serves its store and watches etcd's leader key; when the
/// leader's lease expires, the member holding the most takes over: it wins
/// the key at a new epoch, promotes its copy at that epoch, starts the
/// application on the promoted pool and runs the HA agent on the term it
/// won, shipping to the other members, which switch to its new log. A
/// primary that loses its term stops its application (whose commits the
/// log's fence refuses already) and rejoins as a replica, never as a second
/// writer.
///
/// Ranking: every member publishes its position (`MemberPosition`); a
/// member that finds no leader waits `settle` for the others' final
/// positions, then campaigns at once if it outranks every live member, and
/// otherwise only after one more lease TTL (the best one is dead or slow).
/// With a quorum of all replicas, every acknowledged commit is on every
/// replica, so whichever member wins loses nothing acknowledged.
public final class FailoverNode: @unchecked Sendable {
    /// The configuration.
    public let configuration: Configuration
    let logger: Logger
    let leadership: Leadership
    let members: MemberRegistry
    let store: ReplicaStore
    let stopRequested = LockedFlag()
    /// After a term whose application never attached, the node campaigns
    /// again only from this instant on (the node's thread alone uses it):
    /// a command that cannot start must not make the set promote in a loop.
    var campaignNotBefore = ContinuousClock.now
    private let report: @Sendable (Transition) -> Void
    /// Guards `history`, `runningAgent` and `nodeMetrics`.
    let lock = NSLock()
    private(set) var history: [Transition] = []
    /// The node's Prometheus series (with `Configuration.metricsEndpoint`).
    let nodeMetrics = NodeMetrics()
    /// The agent while this node is primary (so `stop()` reaches it).
    var agent: HAAgent? {
        get { lock.withLock { runningAgent } }
        set { lock.withLock { runningAgent = newValue } }
    }
    private var runningAgent: HAAgent?

    /// Opens the store (made when absent) and checks the configuration;
    /// nothing runs, and etcd is not asked, before `run`. `onTransition`
    /// hears every transition, on the node's thread.
    public init(
        configuration: Configuration, logger: Logger = Logger(label: "pmemkit.ha.node"),
        onTransition: @escaping @Sendable (Transition) -> Void = { _ in }
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        report = onTransition
        leadership = try Leadership(configuration: configuration.leadership)
        members = MemberRegistry(client: leadership.client, configuration: configuration.leadership)
        store = try ReplicaStore(directory: configuration.storeDirectory)
    }

    /// What the node did so far (thread-safe).
    public var transitions: [Transition] { lock.withLock { history } }

    /// Runs the node until `stop()`, or until it stopped being primary with
    /// `afterPrimary` `.stop`.
    public func run() throws {
        let metricsGroup = try configuration.metricsEndpoint.map { try serveMetrics(on: $0) }
        defer { try? metricsGroup?.syncShutdownGracefully() }
        var next: Step = configuration.startAsPrimary ? try openingCampaign() : .serve
        while !stopRequested.isSet {
            switch next {
            case .serve: next = try serveUntilTakeover()
            case .lead(let term, let promote): next = lead(term, promote: promote)
            case .end: stopRequested.set()
            }
        }
        members.withdraw()
        record("stopped", .stopped, epoch: 0, "the node stopped")
    }

    /// Stops the node (thread-safe): a replica stops serving; a primary stops
    /// its agent (which resigns) and its application.
    public func stop() {
        stopRequested.set()
        agent?.stop()
    }

    /// What the node does next.
    enum Step {
        case serve
        case lead(Leadership.Term, promote: Bool)
        case end
    }

    /// The set's first primary: leads if nobody led since this node did,
    /// serves as a replica otherwise.
    private func openingCampaign() throws -> Step {
        record("campaigning", .primary, epoch: 0, "as the set's first primary")
        var lastProblem = ""
        while !stopRequested.isSet {
            do {
                switch try leadership.campaignAsPrimary() {
                case .won(let term): return .lead(term, promote: false)
                case .replaced(_, let epoch, let why):
                    record("demoted", .replica, epoch: epoch, "\(why): starting as a replica")
                    return .serve
                case .ownKeyRemains:
                    logger.info("this node's leader key is still in etcd; waiting for its lease to expire")
                }
            } catch let error as PMemError where error.operation == "etcd" {
                // Said once per distinct problem: etcd may stay away for long.
                if error.detail != lastProblem { logger.warning("etcd: \(error.detail); trying again") }
                lastProblem = error.detail
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return .end
    }

    /// Records a transition: kept, logged, reported.
    func record(_ event: String, _ role: Role, epoch: UInt64, _ detail: String, transaction: UInt64? = nil) {
        let transition = Transition(
            time: Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)),
            event: event, role: role, epoch: epoch, detail: detail, transaction: transaction)
        let kept = lock.withLock {
            history.append(transition)
            return Array(history.suffix(NodeStatus.kept))
        }
        logger.notice("\(event): \(detail)")
        let status = NodeStatus(
            node: configuration.leadership.name, role: role, epoch: epoch, pid: getpid(), transitions: kept)
        do {
            try status.write(store: configuration.storeDirectory)
        } catch {
            logger.warning("the node's status file was not written: \(error)")
        }
        report(transition)
    }

    /// The store's state as its file says (the server's loop changes the
    /// store's own copy meanwhile); the state at open when the file cannot
    /// be read (ranked as a store in a baseline would be then).
    var servedState: ReplicaState {
        if let state = try? ReplicaStore.readState(directory: configuration.storeDirectory) { return state }
        var unknown = ReplicaState()
        unknown.inBaseline = true
        return unknown
    }

    /// This node's position for its store's `state`. A store in the middle
    /// of a baseline would promote its previous copy, an older history: it
    /// ranks below every member that holds a whole one.
    func position(_ state: ReplicaState) -> MemberPosition {
        if state.inBaseline {
            return MemberPosition(
                name: configuration.leadership.name, epoch: 0, lastTransaction: 0, appliedSequence: 0)
        }
        return MemberPosition(
            name: configuration.leadership.name, epoch: state.epoch, lastTransaction: state.lastTransaction,
            appliedSequence: state.appliedSequence)
    }
}
