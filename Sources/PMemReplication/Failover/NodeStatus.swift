import Foundation
import PMemKit

/// What a failover node last said about itself: written beside its store
/// (`STORE.node.json`) at every transition, so that `pmemctl ha
/// node-status` answers in any role, even after the node ended.
public struct NodeStatus: Codable, Sendable, Equatable {
    /// The node's name.
    public var node: String
    /// Its role after the last transition.
    public var role: FailoverNode.Role
    /// The epoch of the last transition (0: none).
    public var epoch: UInt64
    /// The node's process.
    public var pid: Int32
    /// The last transitions, oldest first (at most `kept`).
    public var transitions: [FailoverNode.Transition]

    /// How many transitions the file keeps.
    public static let kept = 64

    /// The status file of the node whose store is `storeDirectory`.
    public static func path(forStore storeDirectory: String) -> String {
        var directory = storeDirectory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        return directory + ".node.json"
    }

    /// Reads the status file of the node whose store is `storeDirectory`.
    public static func read(store storeDirectory: String) throws -> NodeStatus {
        let path = path(forStore: storeDirectory)
        let data = try InputFile.readRegularFile(path, operation: "node status", limit: 1 << 20)
        do {
            return try JSONDecoder().decode(NodeStatus.self, from: data)
        } catch {
            throw PMemError(.corrupt, operation: "node status", detail: "\(path) is not a node's status file")
        }
    }

    /// Writes the file whole or not at all (a new file renamed over the old).
    func write(store storeDirectory: String) throws {
        let path = Self.path(forStore: storeDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: try encoder.encode(self)) else {
            throw PMemError.system("write", errno: errno, detail: partial)
        }
        guard rename(partial, path) == 0 else { throw PMemError.system("rename", errno: errno, detail: path) }
    }
}
