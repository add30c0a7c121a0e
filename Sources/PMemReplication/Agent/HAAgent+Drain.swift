import Foundation
import NIOCore
@_spi(CrashPoints) import PMemKit

/// The drain: when the application dies or power fails, every record a
/// replica lacks is shipped without a window until all acknowledged or the
/// battery's deadline passed; then the report says what reached whom.
extension HAAgent {
    /// Starts a drain unless one ran or the agent stopped (on the loop).
    func beginDrain(_ trigger: DrainTrigger, _ reason: String) {
        guard case .running = lifecycle else { return }
        let now = NIODeadline.now()
        lifecycle = .draining(trigger: trigger, reason: reason, started: now, deadline: now + battery)
        logger.warning(
            "\(reason): draining the log to every replica within \(configuration.batteryMilliseconds) ms")
        CrashPoints.reach("agent.drain.started")
        refreshRecords()
        for link in links {
            if link.phase == .disconnected { link.retryAt = .distantPast }
            pump(link)
        }
        checkDrain()
    }

    /// Ends the drain once every replica acknowledged the last record or the
    /// deadline passed: writes the report beside the log (`.drain.json`) and
    /// finishes `run` with it.
    func checkDrain() {
        guard case .draining(let trigger, let reason, let started, let deadline) = lifecycle else { return }
        refreshRecords()
        // What the primary's pool holds, not what the log may hold beyond it.
        let target = heldSequence
        let complete = links.allSatisfy { $0.ackKnown && $0.acked >= target }
        let now = NIODeadline.now()
        guard complete || now >= deadline else { return }
        let status = makeStatus()
        let report = DrainReport(
            reason: reason, trigger: trigger.rawValue, deadlineMs: configuration.batteryMilliseconds,
            elapsedMs: Double((now - started).nanoseconds) / 1e6, lastSequence: status.lastSequence,
            lastTransaction: status.lastTransaction, withheldRecords: status.withheldRecords,
            complete: complete,
            replicas: status.replicas)
        if let data = try? JSONEncoder().encode(report) {
            _ = FileManager.default.createFile(atPath: configuration.logPath + ".drain.json", contents: data)
        }
        CrashPoints.reach("agent.drain.reported")
        lifecycle = .stopped(report: report)
        finished.succeed(report)
    }
}
