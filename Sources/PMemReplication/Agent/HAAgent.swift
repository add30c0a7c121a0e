import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PMemKit

/// The HA agent (`pmemctl ha agent`): a process of its own that maps the
/// application's log, ships its records in order to every replica, tracks
/// what each acknowledged, reclaims log space acknowledged by all (or a
/// quorum), reconnects and catches replicas up, and — when the watched
/// application dies or a power-fail notice arrives — drains every record a
/// replica lacks within the battery deadline, then reports what reached whom.
///
/// Everything runs on one event loop thread; the public entry points hop to
/// it. What changes as the agent runs is bound to that loop
/// (`NIOLoopBoundBox`: touching it from another thread stops the process).
///
/// The agent's files: this one (its state and life: `run`, `stop`,
/// `powerFail`, `status`), `+Configuration`, `+Control` (control socket,
/// metrics, signals, status), `+Connections` (sessions with replicas),
/// `+Shipping` (records out, acknowledgements in, the poll loop, reclaim) and
/// `+Drain`.
public final class HAAgent: @unchecked Sendable {
    /// Where the agent is in its life.
    enum Lifecycle {
        /// Shipping records as they are written, reclaiming what replicas acknowledged.
        case running
        /// Shipping every record a replica lacks, without a window, until all
        /// acknowledged or `deadline` passed.
        case draining(trigger: DrainTrigger, reason: String, started: NIODeadline, deadline: NIODeadline)
        /// Done: after a drain (its `report`) or `stop()` (`nil`).
        case stopped(report: DrainReport?)
    }

    /// What changes as the agent runs: on the loop only.
    struct LoopState {
        var lifecycle = Lifecycle.running
        /// The log's records from the reclaim point on.
        var index: RecordIndex
        /// Which of them may be shipped: those the primary's pool shows committed.
        let verifier: CommitVerifier
        /// The wait before the next poll: `busyPoll` while records come, doubling to `idlePoll`.
        var pollDelay = HAAgent.busyPoll
        /// The epoch stamped on what is shipped (0 without coordination).
        var epoch: UInt64 = 0
        /// Monotonic ns before which the term surely lasts (0: not leading).
        var leaseValidUntil: UInt64 = 0
        /// Leadership's transitions, the last 64.
        var transitions: [LeadershipTransition] = []
        /// Transitions since the start.
        var transitionCount = 0
        /// Why `run` must throw when it ends (leadership lost with `whenLost: .stop`).
        var failure: PMemError?
    }

    /// The poll interval while records come or a drain runs.
    static let busyPoll = TimeAmount.microseconds(50)
    /// The longest poll interval, reached while no records come.
    static let idlePoll = TimeAmount.milliseconds(1)

    let configuration: Configuration
    let region: LogRegion
    let logger: Logger
    /// Made last in `init`, after everything that can throw: a group made
    /// before a throw would keep its thread to the end of the process.
    let group: MultiThreadedEventLoopGroup
    let loop: EventLoop
    /// How other threads hand events to the loop (closed when `run` ends).
    let events: LoopGate
    let links: [ReplicaLink]
    let metrics = AgentMetrics()
    let quorum: Int
    /// How long a drain may take: `Configuration.batteryMilliseconds`.
    let battery: TimeAmount
    let finished: EventLoopPromise<DrainReport?>
    let state: NIOLoopBoundBox<LoopState>
    /// The control and metrics servers: opened by `run` before the loop
    /// starts its work, closed by `run` after it finished.
    var servers: [Channel] = []
    /// SIGPWR, SIGTERM and SIGINT sources, set up by `run`.
    var signalSources: [DispatchSourceSignal] = []
    /// etcd leadership, when configured.
    let leadership: Leadership?
    /// Watches the mains supplies, when configured.
    let powerMonitor: PowerMonitor?
    /// Renews the term once `run` won one.
    var keeper: LeaseKeeper?
    /// Set by `stop()` so a campaign still waiting in `run` gives up.
    let stopRequested = LockedFlag()

    /// Opens the log and prepares the links; nothing runs before `run`.
    public init(configuration: Configuration, logger: Logger = Logger(label: "pmemkit.ha")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        region = try LogRegion.open(path: configuration.logPath)
        leadership = try configuration.coordination.map { try Leadership(configuration: $0.leadership) }
        powerMonitor = try configuration.powerSupplyRoot.map { try PowerMonitor(root: $0) }
        links = configuration.replicas.map { ReplicaLink(endpoint: $0) }
        quorum = configuration.quorum ?? configuration.replicas.count
        // In range (validated): a day at most, so `now + battery` cannot overflow.
        battery = .milliseconds(Int64(configuration.batteryMilliseconds))
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
        events = LoopGate(loop)
        finished = loop.makePromise()
        let index = RecordIndex(region: region)
        // Records before the reclaim point were acknowledged by every replica
        // needed: shipped. The point names the last one's transaction, so an
        // agent started over an all-reclaimed log still reports it.
        let verifier = CommitVerifier(
            region: region, verifiedThrough: index.firstSequence - 1,
            verifiedTransaction: index.reclaimedTransaction, logger: logger)
        state = .makeBoxSendingValue(LoopState(index: index, verifier: verifier), eventLoop: loop)
    }

    // MARK: State (on the loop)

    /// Where the agent is in its life.
    var lifecycle: Lifecycle {
        get { state.value.lifecycle }
        set { state.value.lifecycle = newValue }
    }

    /// The log's records from the reclaim point on.
    var index: RecordIndex {
        get { state.value.index }
        _modify { yield &state.value.index }
    }

    /// Which records may be shipped.
    var verifier: CommitVerifier { state.value.verifier }

    /// Reads the log's new records and verifies what the pool shows
    /// committed; returns how many records were new.
    @discardableResult
    func refreshRecords() -> Int { verifier.advance(&index) }

    /// The last record replicas are to hold now: every record up to it is
    /// in the primary's committed history (or skipped for a later baseline).
    var shippableSequence: UInt64 { verifier.verifiedThrough }

    /// The last record every replica must acknowledge to hold all it may:
    /// `shippableSequence`, less a skipped run that ends it (never shipped).
    var heldSequence: UInt64 { verifier.heldThrough }

    /// Whether a drain is running.
    var isDraining: Bool {
        if case .draining = lifecycle { return true }
        return false
    }

    /// Whether the agent finished (drained or stopped).
    var isStopped: Bool {
        if case .stopped = lifecycle { return true }
        return false
    }

    // MARK: Running

    /// Runs until a drain ends (returning its report) or `stop()` (returning
    /// nil). With coordination it first campaigns until this node leads,
    /// and throws when leadership is lost for good (another node led, or
    /// `whenLost` is `.stop`).
    public func run() throws -> DrainReport? {
        try startServers()
        do {
            try lead()
        } catch {
            finished.fail(error)
            for server in servers { try? server.close().wait() }
            unlink(controlSocketPath)
            events.close()
            try? group.syncShutdownGracefully()
            throw error
        }
        if let pid = configuration.watchPID {
            try ProcessWatcher.watch(pid: pid) { [self] in
                events.execute { self.beginDrain(.applicationExit, "application exited (pid \(pid))") }
            }
        }
        if let monitor = powerMonitor {
            monitor.start { [self] reason in events.execute { self.beginDrain(.mainsOffline, reason) } }
        }
        if configuration.handlesSignals { installSignalHandlers() }
        loop.execute { [self] in
            for link in links { connect(link) }
            schedulePoll()
        }
        let report = try finished.futureResult.wait()
        powerMonitor?.stop()
        // The primary is gone (drained) or stopped: another node may lead at once.
        keeper?.stop(resign: true)
        let failure = try? loop.submit { self.state.value.failure }.wait()
        for server in servers { try? server.close().wait() }
        unlink(controlSocketPath)
        try? loop.submit { for link in self.links { link.channel?.close(promise: nil) } }.wait()
        events.close()
        try? group.syncShutdownGracefully()
        if let failure = failure ?? nil { throw failure }
        return report
    }

    /// Starts a drain as on a power-fail notice (thread-safe); `source`
    /// says who gave it, in the report.
    public func powerFail(source: String = "API") {
        events.execute { self.beginDrain(.api, "power failure notice (\(source))") }
    }

    /// Stops the agent without draining (thread-safe).
    public func stop() {
        stopRequested.set()
        events.execute { [self] in
            guard !isStopped else { return }
            lifecycle = .stopped(report: nil)
            finished.succeed(nil)
        }
    }

    /// The agent's state now (thread-safe).
    public func status() throws -> AgentStatus {
        try loop.submit { self.makeStatus() }.wait()
    }
}
