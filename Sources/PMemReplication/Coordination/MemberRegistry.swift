import Foundation
import PMemKit

/// Where a replica of the set stands, as it publishes it in etcd so that a
/// takeover goes to the replica that holds the most.
public struct MemberPosition: Codable, Sendable, Equatable {
    /// The member's node name.
    public var name: String
    /// The highest epoch its store has seen: which primary's history it holds.
    public var epoch: UInt64
    /// The last heap transaction its store applied.
    public var lastTransaction: UInt64
    /// The last log record it applied.
    public var appliedSequence: UInt64

    /// A position.
    public init(name: String, epoch: UInt64, lastTransaction: UInt64, appliedSequence: UInt64) {
        self.name = name
        self.epoch = epoch
        self.lastTransaction = lastTransaction
        self.appliedSequence = appliedSequence
    }

    /// Whether `self` holds more than `other`: a later history first (a
    /// higher epoch), then more of it; between equals the smaller name
    /// ranks first, so every member ranks the set the same way.
    public func outranks(_ other: MemberPosition) -> Bool {
        (epoch, lastTransaction, other.name) > (other.epoch, other.lastTransaction, name)
    }

    enum CodingKeys: String, CodingKey {
        case name, epoch
        case lastTransaction = "last_transaction"
        case appliedSequence = "applied_sequence"
    }
}

/// The members of a replica set, each under `PREFIX/members/NAME`, bound to
/// a lease of the member's own: a member that dies drops out of the ranking
/// within its TTL. A member publishes its position as it changes.
final class MemberRegistry {
    private let client: EtcdClient
    private let configuration: Leadership.Configuration
    private var lease: Int64 = 0
    private var renewedAt: ContinuousClock.Instant = .now
    private var published: MemberPosition?

    init(client: EtcdClient, configuration: Leadership.Configuration) {
        self.client = client
        self.configuration = configuration
    }

    private var directory: String { configuration.prefix + "/members/" }

    /// Publishes `position` if it changed, and keeps the member's lease alive
    /// (renewed every third of its TTL; granted again when it lapsed).
    func publish(_ position: MemberPosition) throws {
        let ttl = Duration.seconds(configuration.ttlSeconds)
        if lease != 0, ContinuousClock.now - renewedAt >= ttl / 3 {
            if try client.keepAlive(lease: lease) <= 0 { lease = 0 }
            renewedAt = .now
        }
        if lease == 0 {
            lease = try client.grantLease(ttl: configuration.ttlSeconds).id
            renewedAt = .now
            published = nil
        }
        guard position != published else { return }
        try client.put(
            directory + configuration.name, [UInt8](try JSONEncoder().encode(position)), lease: lease)
        published = position
    }

    /// Every member's last published position (a value that does not decode is left out).
    func positions() throws -> [MemberPosition] {
        try client.list(prefix: directory).compactMap {
            try? JSONDecoder().decode(MemberPosition.self, from: Data($0.value))
        }
    }

    /// Takes this member's key out (its lease revoked); the next `publish` puts it back.
    func withdraw() {
        if lease != 0 { try? client.revoke(lease: lease) }
        lease = 0
        published = nil
    }
}
