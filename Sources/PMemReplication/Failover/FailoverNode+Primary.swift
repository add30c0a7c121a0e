import Foundation
import PMemKit

/// The primary role: promote the copy, run the application and its agent
/// on the term won, and step down when the term or the application ends.
extension FailoverNode {
    /// Leads for `term` (promoting the store's copy first after a takeover)
    /// until the term or the application ends; says what the node does next.
    func lead(_ won: Leadership.Term, promote: Bool) -> Step {
        members.withdraw()
        var term = won
        var application: Process?
        var attached = false
        do {
            if promote { try promoteCopy(at: term.epoch) }
            let started = try startApplication(epoch: term.epoch)
            application = started
            let agent = try attachAgent(term: &term, application: started)
            attached = true
            self.agent = agent
            if stopRequested.isSet { agent.stop() }
            record(
                "primary", .primary, epoch: term.epoch,
                "application pid \(started.processIdentifier) on \(configuration.poolPath); shipping to "
                    + configuration.peers.map(\.description).joined(separator: ", "))
            let report = try agent.run()
            self.agent = nil
            if let report {
                record(
                    "application-exited", .replica, epoch: term.epoch,
                    "\(report.reason); drained through transaction \(report.lastTransaction)"
                        + (report.complete ? " to every peer" : ", not to every peer") + "; resigned")
            } else {
                record("resigned", .replica, epoch: term.epoch, "stopped: the term was given up")
            }
        } catch {
            self.agent = nil
            try? leadership.resign(term)
            record("lost", .replica, epoch: term.epoch, "\(error)")
        }
        if let application { stopApplication(application) }
        if !attached {
            // Let another member take over first; campaign again only after two lease TTLs.
            campaignNotBefore = .now + .seconds(2 * configuration.leadership.ttlSeconds)
        }
        guard configuration.afterPrimary == .rejoin, !stopRequested.isSet else { return .end }
        record("demoted", .replica, epoch: term.epoch, "rejoining the set as a replica")
        return .serve
    }

    /// Moves the pool and log of an earlier term aside, and writes the
    /// store's copy as the pool, recording `epoch` in the store first (a
    /// stale primary's batches are refused from then on).
    private func promoteCopy(at epoch: UInt64) throws {
        try moveAside(configuration.poolPath, epoch: epoch)
        try moveAside(configuration.logPath, epoch: epoch)
        let promotion = try store.promote(to: configuration.poolPath, epoch: epoch)
        record(
            "promoted", .primary, epoch: epoch,
            "\(configuration.storeDirectory) to \(configuration.poolPath) through transaction "
                + "\(promotion.transaction) (log sequence \(promotion.sequence))",
            transaction: promotion.transaction)
    }

    /// Renames a file of an earlier term to `PATH.before-epoch-N`: kept for
    /// a person to inspect, never opened by the application again. Only the
    /// newest `keepAside` such files stay: a pool is as large as the
    /// application's data, and a node that takes over again and again must
    /// not fill its disk with old terms.
    private func moveAside(_ path: String, epoch: UInt64) throws {
        guard access(path, F_OK) == 0 else { return }
        let aside = "\(path).before-epoch-\(epoch)"
        guard rename(path, aside) == 0 else { throw PMemError.system("rename", errno: errno, detail: path) }
        logger.notice("moved \(path) aside to \(aside)")
        let url = URL(fileURLWithPath: path)
        let prefix = url.lastPathComponent + ".before-epoch-"
        let directory = url.deletingLastPathComponent().path
        let earlier = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .compactMap { name in
                name.hasPrefix(prefix) ? UInt64(name.dropFirst(prefix.count)).map { ($0, name) } : nil
            }
            .sorted { $0.0 > $1.0 }
        for (_, name) in earlier.dropFirst(configuration.keepAside) {
            let old = "\(directory)/\(name)"
            if unlink(old) == 0 {
                logger.notice("removed \(old): only \(configuration.keepAside) earlier terms are kept")
            }
        }
    }

    /// Starts the application (`/bin/sh -c COMMAND`) with the pool, log,
    /// epoch and node in its environment, its stdout on the node's stderr.
    private func startApplication(epoch: UInt64) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", configuration.application]
        var environment = ProcessInfo.processInfo.environment
        environment["PMEMKIT_POOL"] = configuration.poolPath
        environment["PMEMKIT_LOG"] = configuration.logPath
        environment["PMEMKIT_EPOCH"] = String(epoch)
        environment["PMEMKIT_NODE"] = configuration.leadership.name
        process.environment = environment
        // The node's stdout carries its transitions alone (a stream a program
        // reads); the application writes to the node's stderr.
        process.standardOutput = FileHandle.standardError
        try process.run()
        return process
    }

    /// Waits until the application attached its log, renewing the term
    /// meanwhile (no agent renews it yet), then makes the agent that leads
    /// for the term and ships to the peers.
    private func attachAgent(term: inout Leadership.Term, application: Process) throws -> HAAgent {
        let deadline = ContinuousClock.now + configuration.attachTimeout
        let renewEvery = Duration.seconds(term.ttlSeconds) / 3
        var renewed = ContinuousClock.now
        while true {
            guard !stopRequested.isSet else {
                throw PMemError(
                    .busy, operation: "ha node", detail: "stopped before the application attached")
            }
            guard application.isRunning else {
                throw PMemError(
                    .busy, operation: "ha node",
                    detail: "the application exited (status \(application.terminationStatus)) before it "
                        + "attached \(configuration.logPath)")
            }
            guard ContinuousClock.now < deadline else {
                throw PMemError(
                    .busy, operation: "ha node",
                    detail: "the application did not attach \(configuration.logPath) within "
                        + "\(configuration.attachTimeout)")
            }
            if ContinuousClock.now - renewed >= renewEvery {
                guard let next = try leadership.renew(term) else {
                    throw PMemError(
                        .busy, operation: "ha node",
                        detail: "the term of epoch \(term.epoch) ended before the application attached")
                }
                term = next
                renewed = .now
            }
            if (try? LogRegion.open(path: configuration.logPath).attachment()) != nil { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        var agent = HAAgent.Configuration(
            logPath: configuration.logPath, replicas: configuration.peers, psk: configuration.psk,
            watchPID: application.processIdentifier, batteryMilliseconds: configuration.batteryMilliseconds,
            quorum: configuration.quorum)
        agent.handlesSignals = false
        agent.coordination = .init(leadership: configuration.leadership, whenLost: .stop, term: term)
        return try HAAgent(configuration: agent, logger: logger)
    }

    /// Ends the application: SIGTERM, then SIGKILL after a second (its
    /// commits are refused by the log's fence once the term is gone, so
    /// nothing it does meanwhile reaches a replica).
    private func stopApplication(_ application: Process) {
        guard application.isRunning else { return }
        kill(application.processIdentifier, SIGTERM)
        for _ in 0..<100 where application.isRunning { Thread.sleep(forTimeInterval: 0.01) }
        if application.isRunning { kill(application.processIdentifier, SIGKILL) }
        application.waitUntilExit()
    }
}
