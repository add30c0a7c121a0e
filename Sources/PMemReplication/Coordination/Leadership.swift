import Foundation
import PMemKit

/// Leadership of a replica set through etcd, as etcd's own election does it:
/// the leader holds `PREFIX/leader`, a key bound to its lease, and the
/// key's create revision is the **epoch** — larger for every new leader, the
/// fencing token every shipped batch carries and every replica checks.
///
/// Beside it, `PREFIX/primary` (no lease) names the node that led last, so
/// that a primary whose lease lapsed can tell whether someone else led
/// since: it may lead again only if not (its pool is still the newest);
/// otherwise it must rejoin as a replica.
///
/// Calls block on etcd (up to the client's timeout per endpoint).
public final class Leadership: @unchecked Sendable {
    /// How a node takes part.
    public struct Configuration: Sendable, Equatable {
        /// etcd's client endpoints.
        public var endpoints: [Endpoint]
        /// The keys' prefix, one per replica set (`/pmemkit/NAME`).
        public var prefix: String
        /// This node's name, unique in the set (stored in the keys).
        public var name: String
        /// The lease's time to live, in seconds: how long a dead leader holds the set.
        public var ttlSeconds: Int

        /// TTLs accepted: etcd refuses less than its election timeout allows, and an hour is plenty.
        public static let ttlRange = 2...3600

        /// A configuration; the TTL defaults to 5 s.
        public init(endpoints: [Endpoint], prefix: String, name: String, ttlSeconds: Int = 5) {
            self.endpoints = endpoints
            self.prefix = prefix
            self.name = name
            self.ttlSeconds = ttlSeconds
        }

        /// Throws `invalidArgument` naming the first bad field.
        public func validate() throws {
            func bad(_ why: String) -> PMemError {
                PMemError(.invalidArgument, operation: "leadership", detail: why)
            }
            guard !endpoints.isEmpty else { throw bad("no etcd endpoint given") }
            guard prefix.hasPrefix("/"), !prefix.hasSuffix("/"), prefix.count <= 200 else {
                throw bad(
                    "key prefix '\(prefix)' must start with '/', not end with one, and be at most 200 bytes")
            }
            guard !name.isEmpty, name.utf8.count <= 200, !name.contains(where: \.isNewline) else {
                throw bad("node name '\(name)' must be 1 to 200 bytes on one line")
            }
            guard Self.ttlRange.contains(ttlSeconds) else {
                throw bad(
                    "lease TTL \(ttlSeconds) s is outside \(Self.ttlRange.lowerBound)...\(Self.ttlRange.upperBound) s"
                )
            }
        }
    }

    /// A term of leadership: the epoch, its lease and how long it surely lasts.
    public struct Term: Sendable, Equatable {
        /// The leader key's create revision.
        public var epoch: UInt64
        /// The etcd lease the key is bound to.
        public var lease: Int64
        /// The TTL etcd granted, in seconds.
        public var ttlSeconds: Int
        /// Monotonic time (ns) the last grant or renewal was sent at.
        public var renewedAt: UInt64
        /// Monotonic time (ns, `LeaseFence.monotonicNow`) before which etcd
        /// cannot have let the lease expire: when the last renewal was sent,
        /// plus the TTL, less a margin for clock rates.
        public var validUntil: UInt64
    }

    /// How a campaign ended.
    public enum Outcome: Sendable, Equatable {
        /// This node leads.
        case won(Term)
        /// Another node leads now.
        case held(by: String, epoch: UInt64)
        /// Nobody leads, but another node led after this one: this node's
        /// copy is not the newest, so it may not lead before it rejoins as a replica.
        case superseded(by: String)
    }

    /// Who may win a campaign.
    public enum Claim: Sendable {
        /// A node that was primary (or the first primary of a new set): wins
        /// only if no other node led since it did.
        case primary
        /// A replica taking over from a leader whose lease expired: wins whoever led before.
        case takeover
    }

    /// The configuration.
    public let configuration: Configuration
    /// The client (shared with callers that read the keys).
    public let client: EtcdClient

    /// The key a leader holds.
    public var leaderKey: String { configuration.prefix + "/leader" }
    /// The key naming the node that led last.
    public var primaryKey: String { configuration.prefix + "/primary" }

    /// Prepares a node's leadership; nothing is sent before `campaign`.
    public init(configuration: Configuration, requestTimeout: Duration = .seconds(1)) throws {
        try configuration.validate()
        self.configuration = configuration
        client = try EtcdClient(endpoints: configuration.endpoints, requestTimeout: requestTimeout)
    }

    /// One attempt to lead: grants a lease and, in one transaction, takes
    /// the leader key if nobody holds it (and, for `.primary`, if nobody
    /// else led since this node). A lease that did not win is revoked.
    public func campaign(_ claim: Claim) throws -> Outcome {
        let name = Array(configuration.name.utf8)
        let sent = LeaseFence.monotonicNow()
        let lease = try client.grantLease(ttl: configuration.ttlSeconds)
        var outcome = Outcome.held(by: "?", epoch: 0)
        defer { if case .won = outcome {} else { try? client.revoke(lease: lease.id) } }
        let take: [EtcdClient.Operation] = [
            .put(leaderKey, name, lease: lease.id), .put(primaryKey, name, lease: 0),
        ]
        let read: [EtcdClient.Operation] = [.get(leaderKey), .get(primaryKey)]
        var result: EtcdClient.TransactionResult
        switch claim {
        case .takeover:
            result = try client.transaction(compare: [.absent(leaderKey)], success: take, failure: read)
        case .primary:
            // Nobody ever led, or this node led last.
            result = try client.transaction(
                compare: [.absent(leaderKey), .absent(primaryKey)], success: take, failure: read)
            if !result.succeeded && result.reads.first.flatMap({ $0 }) == nil {
                result = try client.transaction(
                    compare: [.absent(leaderKey), .valueEquals(primaryKey, name)], success: take,
                    failure: read)
            }
        }
        if result.succeeded {
            outcome = .won(
                Term(
                    epoch: UInt64(result.revision), lease: lease.id, ttlSeconds: lease.ttl, renewedAt: sent,
                    validUntil: Self.validUntil(sent: sent, ttlSeconds: lease.ttl)))
        } else if let leader = result.reads.first.flatMap({ $0 }) {
            outcome = .held(
                by: String(decoding: leader.value, as: UTF8.self), epoch: UInt64(leader.createRevision))
        } else {
            let last =
                result.reads.count > 1
                ? result.reads[1].map { String(decoding: $0.value, as: UTF8.self) } : nil
            outcome = .superseded(by: last ?? "?")
        }
        return outcome
    }

    /// How a campaign as `.primary` ended, from this node's side.
    public enum PrimaryCampaign: Sendable, Equatable {
        /// This node leads.
        case won(Term)
        /// Another node leads, or led after this one (epoch 0 then): this
        /// node's copy is not the newest, so it must rejoin as a replica.
        /// `why` says which, in words ("NODE leads at epoch N", "NODE led after this node").
        case replaced(by: String, epoch: UInt64, why: String)
        /// This node's own key of a lost term is still in etcd, until its lease expires.
        case ownKeyRemains(epoch: UInt64)
    }

    /// One `campaign(.primary)`, its outcome told as what this node must do
    /// (the agent's first campaign, its campaigns after a lost term, and a
    /// failover node's first start all decide the same way).
    public func campaignAsPrimary() throws -> PrimaryCampaign {
        switch try campaign(.primary) {
        case .won(let term):
            return .won(term)
        case .superseded(let other):
            return .replaced(by: other, epoch: 0, why: "\(other) led after this node")
        case .held(let other, let epoch) where other != configuration.name:
            return .replaced(by: other, epoch: epoch, why: "\(other) leads at epoch \(epoch)")
        case .held(_, let epoch):
            return .ownKeyRemains(epoch: epoch)
        }
    }

    /// Renews `term`'s lease and checks the leader key is still its own;
    /// returns the term with its new `validUntil`, or nil when leadership
    /// is gone (the lease expired or the key was taken away). Throws when
    /// etcd cannot be asked: the term then lasts only as long as it said.
    public func renew(_ term: Term) throws -> Term? {
        let sent = LeaseFence.monotonicNow()
        let ttl = try client.keepAlive(lease: term.lease)
        guard ttl > 0 else { return nil }
        guard let key = try client.get(leaderKey), UInt64(key.createRevision) == term.epoch,
            key.lease == term.lease
        else { return nil }
        var renewed = term
        renewed.renewedAt = sent
        renewed.validUntil = Self.validUntil(sent: sent, ttlSeconds: term.ttlSeconds)
        return renewed
    }

    /// Ends `term` at once: revokes its lease (etcd deletes the leader key).
    public func resign(_ term: Term) throws {
        try client.revoke(lease: term.lease)
    }

    /// Who leads now, and at which epoch (nil: nobody).
    public func leader() throws -> (name: String, epoch: UInt64)? {
        try client.get(leaderKey).map {
            (String(decoding: $0.value, as: UTF8.self), UInt64($0.createRevision))
        }
    }

    /// etcd started the lease's clock no earlier than `sent`; a margin of a
    /// tenth of the TTL (at least 100 ms) covers clocks that run at slightly
    /// different rates and the renewal's own delay.
    static func validUntil(sent: UInt64, ttlSeconds: Int) -> UInt64 {
        let ttl = UInt64(ttlSeconds) * 1_000_000_000
        return sent + ttl - max(ttl / 10, 100_000_000)
    }
}
