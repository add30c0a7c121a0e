import Foundation
import TestSupport
import XCTest

/// Key files, logs and store directories that are FIFOs, devices or the
/// wrong kind of file are refused with one line instead of blocking or
/// being read for ever.
final class ReplicationSpecialFileTests: XCTestCase {
    func testAKeyFileMustBeARegularFile() throws {
        let dir = TemporaryDirectory()
        for (key, kind) in [(dir.makeFIFO("fifo"), "a FIFO"), ("/dev/zero", "a character device")] {
            let r = try CLI.run(
                [
                    "replica", "serve", "--store", dir.file("store"), "--listen", "127.0.0.1:0", "--key-file",
                    key,
                ],
                timeout: 20)
            assertFailure(r, mentions: "\(key) is \(kind), not a regular file")
        }
    }

    func testAStoreMustBeADirectory() throws {
        let dir = TemporaryDirectory()
        for (store, kind) in [
            (dir.makeFIFO("fifo"), "a FIFO"), (dir.makeFile("file", size: 1), "a regular file"),
        ] {
            let r = try CLI.run(
                ["replica", "promote", "--store", store, "--out", dir.file("out")], timeout: 20)
            assertFailure(r, mentions: "\(store) is \(kind), not a directory")
        }
    }

    func testTheAgentRefusesALogThatIsAFIFO() throws {
        let dir = TemporaryDirectory()
        try Data(String(repeating: "ab", count: 32).utf8).write(to: URL(fileURLWithPath: dir.file("key")))
        let r = try CLI.run(
            [
                "ha", "agent", "--log", dir.makeFIFO("log"), "--key-file", dir.file("key"), "--replica",
                "127.0.0.1:9",
            ], timeout: 20)
        assertFailure(r, mentions: "a FIFO")
    }
}
