import Foundation
import PMemKit

/// A client of etcd's v3 API through its JSON gateway (`POST /v3/...` over
/// HTTP/1.1, served by every etcd since 3.3 on the client port): the few
/// calls leadership needs — leases, one transaction, reads. Requests go to
/// the first endpoint that answers; a failed one is tried again on the next,
/// so a cluster member down costs one timeout, not the leadership.
///
/// Calls block (the caller is a thread of its own, never an event loop) and
/// are serialized. etcd's 64-bit numbers travel as JSON strings, keys and
/// values as base64.
public final class EtcdClient: @unchecked Sendable {
    /// The cluster's client endpoints, in the order they are tried.
    public let endpoints: [Endpoint]
    /// How long one request may take on one endpoint.
    public let requestTimeout: Duration
    private var connections: [HTTPConnection]
    /// The endpoint that answered last (tried first).
    private var current = 0
    private let lock = NSLock()

    /// A key's value and revisions.
    public struct KeyValue: Sendable, Equatable {
        /// The key.
        public var key: String
        /// Its value (UTF-8 as etcd holds it).
        public var value: [UInt8]
        /// The revision that created the key (a leader key's epoch).
        public var createRevision: Int64
        /// The revision of its last change.
        public var modRevision: Int64
        /// The lease it is bound to (0: none).
        public var lease: Int64
    }

    /// A comparison in a transaction.
    public enum Comparison: Sendable {
        /// The key does not exist (its create revision is 0).
        case absent(String)
        /// The key exists with this value.
        case valueEquals(String, [UInt8])
        /// The key's create revision is this one.
        case createRevisionEquals(String, Int64)
    }

    /// An operation in a transaction's branch.
    public enum Operation: Sendable {
        /// Sets a key, bound to a lease when `lease` is not 0.
        case put(String, [UInt8], lease: Int64)
        /// Reads a key.
        case get(String)
        /// Deletes a key.
        case delete(String)
    }

    /// What a transaction did: which branch ran, the cluster's revision after
    /// it, and the keys its `get`s read.
    public struct TransactionResult: Sendable {
        /// Whether every comparison held (the success branch ran).
        public var succeeded: Bool
        /// The store's revision after the transaction (a put's revision when it wrote).
        public var revision: Int64
        /// What each `get` read, in order.
        public var reads: [KeyValue?]
    }

    /// A client of `endpoints`; throws `invalidArgument` for an empty list or a bad port.
    public init(endpoints: [Endpoint], requestTimeout: Duration = .seconds(1)) throws {
        guard !endpoints.isEmpty else {
            throw PMemError(.invalidArgument, operation: "etcd", detail: "no etcd endpoint given")
        }
        for endpoint in endpoints where !(1...65535).contains(endpoint.port) {
            throw PMemError(
                .invalidArgument, operation: "etcd", detail: "etcd endpoint \(endpoint) has no valid port")
        }
        guard requestTimeout > .zero else {
            throw PMemError(
                .invalidArgument, operation: "etcd", detail: "the request timeout must be positive")
        }
        self.endpoints = endpoints
        self.requestTimeout = requestTimeout
        connections = endpoints.map { HTTPConnection(endpoint: $0) }
    }

    // MARK: Leases

    /// Grants a lease of `ttl` seconds; returns its id and the TTL granted.
    public func grantLease(ttl: Int) throws -> (id: Int64, ttl: Int) {
        let answer = try call("/v3/lease/grant", ["TTL": String(ttl)])
        guard let id = Self.int(answer["ID"]), id != 0 else {
            throw PMemError(
                .system, operation: "etcd",
                detail: "no lease granted: \(Self.text(answer["error"]) ?? "the answer has no lease id")")
        }
        return (id, Int(Self.int(answer["TTL"]) ?? 0))
    }

    /// Renews a lease once; returns the seconds it has left (0: it expired).
    public func keepAlive(lease: Int64) throws -> Int {
        let answer = try call("/v3/lease/keepalive", ["ID": String(lease)])
        // A streaming call: the gateway wraps its one message in "result".
        let result = answer["result"] as? [String: Any] ?? answer
        return Int(Self.int(result["TTL"]) ?? 0)
    }

    /// Revokes a lease, deleting every key bound to it.
    public func revoke(lease: Int64) throws {
        _ = try call("/v3/lease/revoke", ["ID": String(lease)])
    }

    // MARK: Keys

    /// Runs one transaction: `success` when every comparison holds, else `failure`.
    public func transaction(compare: [Comparison], success: [Operation], failure: [Operation]) throws
        -> TransactionResult
    {
        let answer = try call(
            "/v3/kv/txn",
            [
                "compare": compare.map(Self.json), "success": success.map(Self.json),
                "failure": failure.map(Self.json),
            ])
        let succeeded = answer["succeeded"] as? Bool ?? false
        let header = answer["header"] as? [String: Any]
        var reads: [KeyValue?] = []
        for response in answer["responses"] as? [[String: Any]] ?? [] {
            if let range = response["response_range"] as? [String: Any] {
                reads.append(try (range["kvs"] as? [[String: Any]])?.first.map(Self.keyValue))
            }
        }
        return TransactionResult(
            succeeded: succeeded, revision: Self.int(header?["revision"]) ?? 0, reads: reads)
    }

    /// Reads a key (nil: absent).
    public func get(_ key: String) throws -> KeyValue? {
        let answer = try call("/v3/kv/range", ["key": Self.base64(key)])
        return try (answer["kvs"] as? [[String: Any]])?.first.map(Self.keyValue)
    }

    /// Every key that starts with `prefix` (which ends with `/`), in key order.
    public func list(prefix: String) throws -> [KeyValue] {
        precondition(prefix.hasSuffix("/"), "a listed prefix ends with '/'")
        // The range's end: the prefix with its last byte, '/', raised by one.
        let end = prefix.dropLast() + "0"
        let answer = try call("/v3/kv/range", ["key": Self.base64(prefix), "range_end": Self.base64(end)])
        return try ((answer["kvs"] as? [[String: Any]]) ?? []).map(Self.keyValue)
    }

    /// Sets a key, bound to `lease` unless it is 0; returns the revision of the write.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) throws -> Int64 {
        var body: [String: Any] = ["key": Self.base64(key), "value": Data(value).base64EncodedString()]
        if lease != 0 { body["lease"] = String(lease) }
        let answer = try call("/v3/kv/put", body)
        return Self.int((answer["header"] as? [String: Any])?["revision"]) ?? 0
    }

    // MARK: Requests

    /// Posts `body` to the first endpoint that answers, starting with the
    /// last one that did. An endpoint that answers with an error status is
    /// an error of the request, not of the endpoint: it is not retried.
    private func call(_ path: String, _ body: [String: Any]) throws -> [String: Any] {
        let payload = [UInt8](try JSONSerialization.data(withJSONObject: body))
        lock.lock()
        defer { lock.unlock() }
        var failures: [String] = []
        for attempt in 0..<connections.count {
            let index = (current + attempt) % connections.count
            let connection = connections[index]
            let response: HTTPConnection.Response
            do {
                response = try connection.post(
                    path, body: payload, deadline: ContinuousClock.now.advanced(by: requestTimeout))
            } catch let error as PMemError {
                failures.append(error.detail)
                continue
            }
            current = index
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            guard response.status == 200, let object else {
                let message = Self.text(object?["message"]) ?? Self.text(object?["error"])
                throw PMemError(
                    .system, operation: "etcd",
                    detail: "\(connection.endpoint) refused \(path) (HTTP \(response.status)"
                        + (message.map { ": \($0)" } ?? "") + ")")
            }
            return object
        }
        throw PMemError(
            .system, operation: "etcd",
            detail: "no etcd endpoint answered (\(failures.joined(separator: "; ")))")
    }

    // MARK: JSON

    private static func base64<Text: StringProtocol>(_ key: Text) -> String {
        Data(key.utf8).base64EncodedString()
    }

    /// etcd's int64 fields arrive as strings; an absent field is proto3's zero.
    static func int(_ value: Any?) -> Int64? {
        switch value {
        case let text as String: Int64(text)
        case let number as NSNumber: number.int64Value
        default: nil
        }
    }

    private static func text(_ value: Any?) -> String? { value as? String }

    private static func keyValue(_ json: [String: Any]) throws -> KeyValue {
        guard let key = (json["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
            throw PMemError(.system, operation: "etcd", detail: "a key in etcd's answer is not base64")
        }
        let value = (json["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
        return KeyValue(
            key: String(decoding: key, as: UTF8.self), value: [UInt8](value),
            createRevision: int(json["create_revision"]) ?? 0, modRevision: int(json["mod_revision"]) ?? 0,
            lease: int(json["lease"]) ?? 0)
    }

    private static func json(_ comparison: Comparison) -> [String: Any] {
        switch comparison {
        case .absent(let key):
            ["key": base64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"]
        case .valueEquals(let key, let value):
            [
                "key": base64(key), "target": "VALUE", "result": "EQUAL",
                "value": Data(value).base64EncodedString(),
            ]
        case .createRevisionEquals(let key, let revision):
            ["key": base64(key), "target": "CREATE", "result": "EQUAL", "create_revision": String(revision)]
        }
    }

    private static func json(_ operation: Operation) -> [String: Any] {
        switch operation {
        case .put(let key, let value, let lease):
            var put: [String: Any] = ["key": base64(key), "value": Data(value).base64EncodedString()]
            if lease != 0 { put["lease"] = String(lease) }
            return ["request_put": put]
        case .get(let key):
            return ["request_range": ["key": base64(key)]]
        case .delete(let key):
            return ["request_delete_range": ["key": base64(key)]]
        }
    }
}
