import ArgumentParser
import Foundation
import PMemKit
import PMemReplication

/// The options that put a node in a replica set led through etcd
/// (`pmemctl ha agent` and `pmemctl ha node`).
struct EtcdOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "etcd client endpoint, HOST:PORT (repeat for a cluster): lead the replica set through etcd, "
                + "ship only while leading, stamp the epoch on every batch.", valueName: "HOST:PORT"))
    var etcd: [String] = []

    @Option(help: "This node's name in the replica set (with --etcd; default: the host name).")
    var node: String?

    @Option(help: "The replica set's etcd key prefix (with --etcd).")
    var etcdPrefix = "/pmemkit/default"

    @Option(help: "Leader lease TTL in seconds (with --etcd; 2 to 3600).")
    var leaseTtl = 5

    func validate() throws {
        for text in etcd { _ = try parseEndpoint(text, "--etcd") }
        try requireRange(leaseTtl, Leadership.Configuration.ttlRange, "--lease-ttl")
        if let leadership = try leadership() {
            do { try leadership.validate() } catch let error as PMemError {
                throw ValidationError(error.detail)
            }
        }
    }

    /// The etcd leadership the options ask for (nil without --etcd).
    func leadership() throws -> Leadership.Configuration? {
        guard !etcd.isEmpty else { return nil }
        return .init(
            endpoints: try etcd.map(Endpoint.init(parsing:)), prefix: etcdPrefix,
            name: node ?? ProcessInfo.processInfo.hostName, ttlSeconds: leaseTtl)
    }
}
