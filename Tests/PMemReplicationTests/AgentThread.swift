import Foundation
import Logging
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// An HA agent run on a thread of its own, for tests that keep the
/// application, the agent and the replicas in one process.
final class AgentThread: @unchecked Sendable {
    let agent: HAAgent
    private let done = DispatchSemaphore(value: 0)
    /// The drain report `run` returned, once it ended.
    private(set) var report: DrainReport?
    /// What `run` threw, once it ended.
    private(set) var failure: Error?

    init(_ agent: HAAgent) {
        self.agent = agent
        Thread.detachNewThread { [self] in
            do { report = try agent.run() } catch { failure = error }
            done.signal()
        }
    }

    /// Waits for `run` to end; false after `seconds`.
    func ended(within seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }

    /// Stops the agent and waits (15 s at most) for `run` to end.
    func stop() -> Bool {
        agent.stop()
        return ended(within: 15)
    }
}

/// A logger that says only what is critical (tests read state, not logs).
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .critical
    return logger
}

/// Polls `condition` every 20 ms until it holds; fails the test and throws after `timeout` seconds.
func waitUntil(
    _ what: String, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () throws -> Bool
) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    XCTFail("timed out waiting until \(what)", file: file, line: line)
    throw EtcdMemberError("timed out waiting until \(what)")
}

/// A replicated list at `pool` whose commits need leadership (its root made
/// before, by an application that did not need it).
func fencedList(pool: String, log: String) throws -> ReplicatedList {
    try ReplicatedList(pool: pool, log: log, options: .init(logCapacity: 1 << 20)).close()
    return try ReplicatedList(pool: pool, log: log, options: .init(logCapacity: 1 << 20, leadership: .refuse))
}
