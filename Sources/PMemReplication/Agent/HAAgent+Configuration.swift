import NIOCore
import PMemKit

extension HAAgent {
    /// How the agent runs.
    public struct Configuration: Sendable {
        /// The log file (the application's).
        public var logPath: String
        /// The replicas.
        public var replicas: [Endpoint]
        /// The key replicas and agent share.
        public var psk: PreSharedKey
        /// The application process to watch: its end starts a drain.
        public var watchPID: Int32?
        /// How long a drain may take (the battery's hold-up time), in milliseconds.
        public var batteryMilliseconds: Int
        /// Replicas that must acknowledge a record before its space is reclaimed (nil: all).
        public var quorum: Int?
        /// The control socket (default: the log's path + `.sock`).
        public var controlSocket: String?
        /// Where to answer Prometheus scrapes (`GET /metrics`), if anywhere.
        public var metricsEndpoint: Endpoint?
        /// Bytes of records per batch at most.
        public var batchBytes: Int
        /// Bytes shipped and not yet acknowledged, per replica, at most (outside a drain).
        public var windowBytes: Int
        /// A replica that shows no progress for this long while it has records to take is reconnected.
        public var idleTimeout: TimeAmount
        /// Whether `run` takes SIGPWR (drain), SIGTERM and SIGINT (stop); off when embedded in another program.
        public var handlesSignals = true
        /// The sysfs power supply class to watch (`/sys/class/power_supply`;
        /// nil: none): when every mains supply is offline, the agent drains.
        public var powerSupplyRoot: String?
        /// Leadership through etcd (nil: none, epoch 0). With it the agent
        /// ships only while it leads, stamps its epoch on every batch, and
        /// publishes its lease in the log for the application's admission.
        public var coordination: Coordination?

        /// How the agent leads through etcd.
        public struct Coordination: Sendable, Equatable {
            /// The etcd keys, this node's name, the lease TTL.
            public var leadership: Leadership.Configuration
            /// What the agent does when its leadership is gone.
            public var whenLost: WhenLost
            /// A term this node already won (a replica that took over and
            /// promoted its copy): the agent renews it instead of campaigning.
            public var term: Leadership.Term?

            /// Leadership with `leadership`; by default the agent stops when it loses it.
            public init(
                leadership: Leadership.Configuration, whenLost: WhenLost = .stop, term: Leadership.Term? = nil
            ) {
                self.leadership = leadership
                self.whenLost = whenLost
                self.term = term
            }
        }

        /// What an agent that lost its leadership does. It ships nothing
        /// meanwhile, and the application's commits are refused either way.
        public enum WhenLost: String, Sendable, CaseIterable {
            /// `run` ends, throwing why.
            case stop
            /// Campaigns again, leading again only if no other node led
            /// meanwhile; `run` ends, throwing, when one did.
            case campaign
        }

        /// The drain deadlines accepted: up to a day (a battery holds up for
        /// minutes), so every deadline computed from one is far from overflowing.
        public static let batteryMillisecondsRange = 1...86_400_000

        /// Throws `invalidArgument` naming the first field out of its range.
        func validate() throws {
            func bad(_ why: String) -> PMemError {
                PMemError(.invalidArgument, operation: "ha agent", detail: why)
            }
            guard !replicas.isEmpty else { throw bad("no replica given") }
            guard Self.batteryMillisecondsRange.contains(batteryMilliseconds) else {
                throw bad(
                    "battery of \(batteryMilliseconds) ms is outside \(Self.batteryMillisecondsRange.lowerBound)"
                        + "...\(Self.batteryMillisecondsRange.upperBound) ms")
            }
            if let quorum, !(1...replicas.count).contains(quorum) {
                throw bad("quorum \(quorum) must be between 1 and the \(replicas.count) replicas")
            }
            if let watchPID, watchPID <= 0 {
                throw bad("process \(watchPID) names a process group, not a process")
            }
            for replica in replicas where !(1...65535).contains(replica.port) {
                throw bad("replica \(replica) has no valid port")
            }
            guard (4096...Self.maxBatchBytes).contains(batchBytes) else {
                throw bad("batches of \(batchBytes) bytes are outside 4096...\(Self.maxBatchBytes)")
            }
            guard windowBytes >= batchBytes else {
                throw bad("a window of \(windowBytes) bytes is smaller than a batch (\(batchBytes))")
            }
            guard idleTimeout > .zero else { throw bad("the idle timeout must be positive") }
            try coordination?.leadership.validate()
        }

        /// The largest batch: what a frame and a replica's journal take (64 MiB).
        static let maxBatchBytes = 64 << 20

        /// A configuration with the defaults: 2 s of battery, all replicas acknowledge.
        public init(
            logPath: String, replicas: [Endpoint], psk: PreSharedKey, watchPID: Int32? = nil,
            batteryMilliseconds: Int = 2000, quorum: Int? = nil, controlSocket: String? = nil,
            metricsEndpoint: Endpoint? = nil, batchBytes: Int = 1 << 20, windowBytes: Int = 16 << 20,
            idleTimeout: TimeAmount = .seconds(3)
        ) {
            self.logPath = logPath
            self.replicas = replicas
            self.psk = psk
            self.watchPID = watchPID
            self.batteryMilliseconds = batteryMilliseconds
            self.quorum = quorum
            self.controlSocket = controlSocket
            self.metricsEndpoint = metricsEndpoint
            self.batchBytes = batchBytes
            self.windowBytes = windowBytes
            self.idleTimeout = idleTimeout
        }
    }
}
