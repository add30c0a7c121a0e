import Foundation
import PMemReplication
import TestSupport
import XCTest

/// The `pmemctl ha` and `pmemctl replica` contract: exit 2 with one line for
/// bad usage, 1 with one line for a failed operation.
final class ReplicationCLITests: XCTestCase {
    func testBadUsageExitsTwoWithOneLine() throws {
        assertUsageError(
            try CLI.run(["ha", "agent", "--log", "x", "--key-file", "k"]), mentions: "--replica")
        assertUsageError(
            try CLI.run(["ha", "agent", "--log", "x", "--key-file", "k", "--replica", "nohost"]),
            mentions: "--replica")
        assertUsageError(
            try CLI.run(["ha", "agent", "--log", "x", "--key-file", "k", "--replica", "h:1", "--quorum", "2"]
            ),
            mentions: "--quorum")
        assertUsageError(
            try CLI.run([
                "ha", "agent", "--log", "x", "--key-file", "k", "--replica", "h:1", "--battery-ms", "0",
            ]),
            mentions: "--battery-ms")
        // Milliseconds become nanoseconds: a value near 2^63 must not overflow that.
        assertUsageError(
            try CLI.run([
                "ha", "agent", "--log", "x", "--key-file", "k", "--replica", "h:1", "--battery-ms",
                "9223372036854775807",
            ]),
            mentions: "--battery-ms")
        assertUsageError(
            try CLI.run(["replica", "serve", "--store", "d", "--listen", "1.2.3.4:99999", "--key-file", "k"]),
            mentions: "--listen")
    }

    func testBadNodeUsageExitsTwoWithOneLine() throws {
        let node = [
            "ha", "node", "--store", "s", "--listen", "127.0.0.1:7000", "--key-file", "k", "--pool", "p",
            "--log",
            "l", "--run", "app",
        ]
        let etcd = ["--etcd", "127.0.0.1:2379"]
        assertUsageError(try CLI.run(node + ["--peer", "127.0.0.1:7001"]), mentions: "--etcd")
        assertUsageError(try CLI.run(node + etcd), mentions: "--peer")
        assertUsageError(try CLI.run(node + etcd + ["--peer", "127.0.0.1:0"]), mentions: "--peer")
        assertUsageError(try CLI.run(node + etcd + ["--peer", "nohost"]), mentions: "--peer")
        assertUsageError(
            try CLI.run(node + etcd + ["--peer", "127.0.0.1:7001", "--start", "leader"]), mentions: "--start")
        assertUsageError(
            try CLI.run(node + etcd + ["--peer", "127.0.0.1:7001", "--after-primary", "retire"]),
            mentions: "--after-primary")
        assertUsageError(
            try CLI.run(node + etcd + ["--peer", "127.0.0.1:7001", "--quorum", "2"]), mentions: "--quorum")
        assertUsageError(
            try CLI.run(node + etcd + ["--peer", "127.0.0.1:7001", "--lease-ttl", "1"]),
            mentions: "--lease-ttl")
        assertUsageError(
            try CLI.run(node + etcd + ["--peer", "127.0.0.1:7001", "--keep-aside", "1001"]),
            mentions: "--keep-aside")
        assertUsageError(
            try CLI.run(node + etcd + ["--peer", "127.0.0.1:7001", "--etcd-prefix", "nolead"]),
            mentions: "prefix")
        let dir = TemporaryDirectory()
        try PreSharedKey.generateHex().write(toFile: dir.file("k"), atomically: true, encoding: .utf8)
        // Checked by the node itself: its own address among its peers, the pool and log one file.
        let own = [
            "ha", "node", "--store", dir.file("s"), "--listen", "127.0.0.1:7000", "--key-file", dir.file("k"),
            "--run", "app",
        ]
        assertFailure(
            try CLI.run(
                own + etcd + ["--peer", "127.0.0.1:7000", "--pool", dir.file("p"), "--log", dir.file("l")]),
            mentions: "this node's own address")
        assertFailure(
            try CLI.run(
                own + etcd + ["--peer", "127.0.0.1:7001", "--pool", dir.file("p"), "--log", dir.file("p")]),
            mentions: "the same file")
    }

    func testNumbersOutOfRangeAreUsageErrors() throws {
        let agent = ["ha", "agent", "--log", "x", "--key-file", "k", "--replica", "h:1"]
        for (option, value) in [
            ("--battery-ms", "9223372036854775807"), ("--battery-ms", "-5"), ("--battery-ms", "86400001"),
            ("--quorum", "-1"), ("--quorum", "9223372036854775807"), ("--watch-pid", "0"),
            ("--watch-pid", "-7"), ("--watch-pid", "9223372036854775807"),
        ] {
            assertUsageError(try CLI.run(agent + ["\(option)=\(value)"]), mentions: option)
        }
        assertUsageError(
            try CLI.run(["ha", "agent", "--log", "x", "--key-file", "k", "--replica", "h:0"]),
            mentions: "--replica")
        for command in ["status", "power-fail", "metrics"] {
            for value in ["0", "-1", "9223372036854775807", "600001"] {
                assertUsageError(
                    try CLI.run(["ha", command, "--log", "x", "--timeout-ms=\(value)"]),
                    mentions: "--timeout-ms")
            }
        }
    }

    func testFailedOperationsExitOneWithOneLine() throws {
        let dir = TemporaryDirectory()
        assertFailure(
            try CLI.run(["ha", "status", "--log", dir.file("log")]), mentions: "no HA agent answers")
        assertFailure(
            try CLI.run(["ha", "power-fail", "--log", dir.file("log")]), mentions: "no HA agent answers")
        assertFailure(
            try CLI.run([
                "ha", "agent", "--log", dir.file("missing"), "--key-file", dir.file("missing-key"),
                "--replica", "127.0.0.1:9",
            ]),
            mentions: "missing-key")
        let key = dir.file("key")
        XCTAssertEqual(try CLI.run(["replica", "keygen", "--out", key]).status, 0)
        assertFailure(try CLI.run(["replica", "keygen", "--out", key]), mentions: "key")
        assertFailure(
            try CLI.run([
                "ha", "agent", "--log", dir.file("missing"), "--key-file", key, "--replica", "127.0.0.1:9",
            ]),
            mentions: "missing")
        assertFailure(
            try CLI.run(["replica", "promote", "--store", dir.file("store"), "--out", dir.file("pool")]),
            mentions: "no replica store at")
        assertFailure(
            try CLI.run(["replica", "status", "--store", dir.file("nothing")]),
            mentions: "no replica store at")
        try "not hex".write(toFile: dir.file("bad-key"), atomically: true, encoding: .utf8)
        assertFailure(
            try CLI.run([
                "replica", "serve", "--store", dir.file("s"), "--listen", "127.0.0.1:0", "--key-file",
                dir.file("bad-key"),
            ]),
            mentions: "hexadecimal")
    }

    func testStatusOfANewStoreIsPrintedAsJSON() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("store"), withIntermediateDirectories: false)
        let status = try CLI.run(["replica", "status", "--store", dir.file("store"), "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["applied_sequence"] as? Int, 0)
        XCTAssertEqual(json?["in_baseline"] as? Bool, false)
    }
}
