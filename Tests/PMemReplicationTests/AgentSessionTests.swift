import Foundation
import NIOCore
import XCTest

@testable import PMemReplication

/// The agent's decisions on what a replica reports: where its session
/// resumes, and which acknowledgements count.
final class AgentSessionTests: XCTestCase {
    private let log = UUID()

    private func resume(
        _ applied: UInt64, follows: UUID?, first: UInt64 = 10, last: UInt64 = 20, baseline: UInt64? = 12
    )
        -> Result<UInt64, HAAgent.RefusedResume>
    {
        HAAgent.resumePoint(
            for: ReplicaPosition(
                logUUID: follows, appliedSequence: applied, appliedRecords: applied, poolUUID: nil),
            log: log, firstSequence: first, lastSequence: last, firstBaseline: baseline)
    }

    func testAReplicaResumesAfterWhatItAppliedOrFromABaselineWhenNew() {
        XCTAssertEqual(resume(15, follows: log), .success(16))
        XCTAssertEqual(resume(20, follows: log), .success(21), "caught up: the next record written")
        XCTAssertEqual(resume(0, follows: nil), .success(12))
        XCTAssertEqual(try? resume(0, follows: nil, baseline: nil).get(), nil)
        XCTAssertEqual(try? resume(3, follows: log).get(), nil, "reclaimed past it: stale")
        XCTAssertEqual(try? resume(15, follows: UUID()).get(), nil, "another log")
    }

    func testAReplicaOfAnOlderEpochSwitchesToAPromotedPrimarysLogAndANewerOneRefusesIt() {
        func resume(replicaEpoch: UInt64, agentEpoch: UInt64, follows: UUID) -> Result<
            UInt64, HAAgent.RefusedResume
        > {
            HAAgent.resumePoint(
                for: ReplicaPosition(
                    logUUID: follows, appliedSequence: 15, appliedRecords: 15, poolUUID: nil,
                    epoch: replicaEpoch),
                log: log, firstSequence: 10, lastSequence: 20, firstBaseline: 12, epoch: agentEpoch)
        }
        XCTAssertEqual(
            resume(replicaEpoch: 5, agentEpoch: 7, follows: UUID()), .success(12), "from the baseline")
        XCTAssertEqual(resume(replicaEpoch: 7, agentEpoch: 7, follows: log), .success(16))
        XCTAssertEqual(
            try? resume(replicaEpoch: 7, agentEpoch: 7, follows: UUID()).get(), nil, "same epoch, another log"
        )
        guard case .failure(let stale) = resume(replicaEpoch: 9, agentEpoch: 7, follows: log) else {
            return XCTFail("a stale primary resumed")
        }
        XCTAssertTrue(stale.reason.contains("this primary is stale"), stale.reason)
    }

    func testAReplicaReportingMoreThanTheLogHoldsIsRefusedNotATrap() {
        // Found reviewing the agent's use of replica reports for fuzz-wire:
        // `appliedSequence + 1` trapped at 2^64 - 1, taking the agent down.
        guard case .failure(let refused) = resume(.max, follows: log) else { return XCTFail("resumed") }
        XCTAssertEqual(refused.phase, .refused)
        XCTAssertTrue(refused.reason.contains("past this log's last record 20"), refused.reason)
        XCTAssertEqual(try? resume(21, follows: log).get(), nil)
    }

    func testAnAcknowledgementPastWhatWasSentIsIgnored() {
        let link = ReplicaLink(endpoint: Endpoint(host: "replica", port: 7070))
        link.acked = 9
        link.ackKnown = true
        link.sent = 12
        XCTAssertFalse(
            link.acknowledge(.max, now: .now()), "never sent: the log must not be reclaimed past it")
        XCTAssertFalse(link.acknowledge(13, now: .now()))
        XCTAssertEqual(link.acked, 9)
        XCTAssertTrue(link.acknowledge(12, now: .now()))
        XCTAssertEqual(link.acked, 12)
    }
}
