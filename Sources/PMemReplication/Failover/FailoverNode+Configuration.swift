import Foundation
import PMemKit

extension FailoverNode {
    /// How a node takes part in its replica set.
    public struct Configuration: Sendable {
        /// etcd, the set's key prefix, this node's name, the lease TTL.
        public var leadership: Leadership.Configuration
        /// The replica store this node keeps while it is a replica.
        public var storeDirectory: String
        /// Where this node serves as a replica (`HOST:PORT`, the address the others ship to).
        public var listen: Endpoint
        /// The other members' replica addresses: where this node ships while it is primary.
        public var peers: [Endpoint]
        /// The key every member shares.
        public var psk: PreSharedKey
        /// The application's pool while this node is primary (a promotion writes it).
        public var poolPath: String
        /// The application's replication log while this node is primary.
        public var logPath: String
        /// The application, a shell command run with `PMEMKIT_POOL`,
        /// `PMEMKIT_LOG`, `PMEMKIT_EPOCH` and `PMEMKIT_NODE` set. It attaches
        /// a `Replicator` to the pool and log, with a leadership requirement.
        public var application: String
        /// Whether the node starts by campaigning as the set's first primary
        /// (its pool is the newest, or the application makes it); otherwise it
        /// starts as a replica.
        public var startAsPrimary = false
        /// What the node does once it stopped being primary.
        public var afterPrimary = AfterPrimary.rejoin
        /// Replicas that must acknowledge a record while this node is primary (nil: all).
        public var quorum: Int?
        /// The drain deadline while this node is primary, in milliseconds.
        public var batteryMilliseconds = 2000
        /// Where the node answers Prometheus scrapes (`GET /metrics`), in
        /// every role: its own series (`pmemkit_failover_*`) and, while it is
        /// primary, its agent's (`pmemkit_replication_*`).
        public var metricsEndpoint: Endpoint?
        /// Earlier terms' pools (and logs) kept aside as `PATH.before-epoch-N`
        /// when a takeover promotes over them; older ones are removed.
        public var keepAside = 1
        /// How long the application may take to attach its log before the node gives the term up.
        public var attachTimeout: Duration = .seconds(60)
        /// How often a replica asks etcd who leads.
        public var pollInterval: Duration = .milliseconds(100)
        /// How long a replica that found no leader lets the others publish
        /// their final positions before it ranks them.
        public var settle: Duration = .milliseconds(200)

        /// What a node that stopped being primary does.
        public enum AfterPrimary: String, Sendable, CaseIterable {
            /// Serves as a replica again: the new primary ships it the new history.
            case rejoin
            /// `run` returns.
            case stop
        }

        /// A configuration with the defaults: starts as a replica, rejoins after being primary.
        public init(
            leadership: Leadership.Configuration, storeDirectory: String, listen: Endpoint, peers: [Endpoint],
            psk: PreSharedKey, poolPath: String, logPath: String, application: String
        ) {
            self.leadership = leadership
            self.storeDirectory = storeDirectory
            self.listen = listen
            self.peers = peers
            self.psk = psk
            self.poolPath = poolPath
            self.logPath = logPath
            self.application = application
        }

        /// Throws `invalidArgument` naming the first bad field.
        func validate() throws {
            func bad(_ why: String) -> PMemError {
                PMemError(.invalidArgument, operation: "ha node", detail: why)
            }
            try leadership.validate()
            guard !peers.isEmpty else { throw bad("no peer given: a replica set needs another member") }
            guard !peers.contains(listen) else { throw bad("peer \(listen) is this node's own address") }
            guard !application.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw bad("no application command given")
            }
            if let quorum, !(1...peers.count).contains(quorum) {
                throw bad("quorum \(quorum) must be between 1 and the \(peers.count) peers")
            }
            guard HAAgent.Configuration.batteryMillisecondsRange.contains(batteryMilliseconds) else {
                throw bad("battery of \(batteryMilliseconds) ms is out of range")
            }
            guard poolPath != logPath else { throw bad("the pool and the log are the same file \(poolPath)") }
            guard (0...1000).contains(keepAside) else {
                throw bad("keeping \(keepAside) earlier terms is outside 0...1000")
            }
        }
    }

    /// The node's role now.
    public enum Role: String, Codable, Sendable {
        /// Serving its store, watching the leader.
        case replica
        /// Promoting its copy, or running the application and its agent.
        case primary
        /// `run` ended.
        case stopped
    }

    /// One change of the node's role or term, as the node prints and keeps it.
    public struct Transition: Codable, Sendable, Equatable {
        /// Wall-clock time, ISO 8601 with milliseconds.
        public var time: String
        /// What happened: `replica`, `campaigning`, `took-over`, `promoted`,
        /// `primary`, `application-exited`, `lost`, `demoted`, `stopped`.
        public var event: String
        /// The role after it.
        public var role: Role
        /// The epoch it concerns (0: none).
        public var epoch: UInt64
        /// What happened, in words.
        public var detail: String
        /// For `promoted`: the last transaction the promoted pool holds.
        public var transaction: UInt64?
    }
}
