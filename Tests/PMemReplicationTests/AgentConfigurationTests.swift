import Foundation
import PMemKit
import TestSupport
import XCTest

@testable import PMemReplication

/// The agent takes no number it cannot compute with: a configuration out of
/// range is refused before the log is opened, naming the field.
final class AgentConfigurationTests: XCTestCase {
    private func configuration(_ change: (inout HAAgent.Configuration) -> Void) throws
        -> HAAgent.Configuration
    {
        var configuration = HAAgent.Configuration(
            logPath: "/nonexistent/log", replicas: [Endpoint(host: "127.0.0.1", port: 7)],
            psk: try PreSharedKey(bytes: [UInt8](repeating: 1, count: 32)))
        change(&configuration)
        return configuration
    }

    func testOutOfRangeNumbersAreRefusedBeforeAnythingRuns() throws {
        let cases: [(String, (inout HAAgent.Configuration) -> Void)] = [
            ("battery", { $0.batteryMilliseconds = .max }),
            ("battery", { $0.batteryMilliseconds = Int(Int64.max / 1_000_000) }),
            ("battery", { $0.batteryMilliseconds = -1 }),
            ("quorum", { $0.quorum = .max }),
            ("process group", { $0.watchPID = -1 }),
            ("port", { $0.replicas = [Endpoint(host: "h", port: 70000)] }),
            ("batches", { $0.batchBytes = .max }),
            ("window", { $0.windowBytes = 1 }),
            ("idle timeout", { $0.idleTimeout = .nanoseconds(-1) }),
        ]
        for (field, change) in cases {
            XCTAssertThrowsError(try HAAgent(configuration: configuration(change))) {
                XCTAssertEqual(($0 as? PMemError)?.kind, .invalidArgument, "\($0)")
                XCTAssertTrue("\($0)".contains(field), "\($0)")
            }
        }
        XCTAssertThrowsError(try HAAgent(configuration: configuration { _ in })) {
            XCTAssertEqual(
                ($0 as? PMemError)?.kind, .notFound, "a valid configuration reaches the log: \($0)")
        }
    }
}
