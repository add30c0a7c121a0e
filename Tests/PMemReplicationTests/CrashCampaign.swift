import Foundation
import PMemReplication
import TestSupport
import XCTest

/// The crash-point campaign over the replication path (docs/RELIABILITY.md):
/// real processes on loopback (`repl-workload`, `pmemctl ha agent`,
/// `pmemctl replica serve`, `pmemctl replica promote`), one of them killed
/// at a chosen crash point (`PMEMKIT_CRASH_AT=LABEL:N`, every label a
/// calibration run passed), at a random one (`PREFIX:N`), or by a timer;
/// then recovery (reopen, restart, rerun) and the invariants, each failure
/// a counted violation (`CrashCampaignTests` runs the phases).
///
/// Where to kill is drawn from what a calibration run with
/// `PMEMKIT_CRASH_LOG=1` passed: the labels it named, and how often each.
final class CrashCampaign {
    let cluster: ProcessCluster
    let phase: String
    /// Seeds the draws; printed, so a failing phase can be rerun with it
    /// (`PMEMKIT_CRASH_SEED`; timers and scheduling still vary run to run).
    let seed: UInt64
    private var random: CampaignRandom
    /// Kill points tried, by label (`timer`: killed at a random moment).
    private(set) var kills: [String: Int] = [:]
    /// Runs in which the drawn point was not reached (the process ended first).
    private(set) var unreached = 0
    /// Long-running processes whose drawn point was not reached in time:
    /// killed then, at a random moment (counted among the `timer` kills).
    private(set) var fallbacks = 0
    private(set) var violations: [String] = []
    private let started = Date()

    init(phase: String) throws {
        cluster = try ProcessCluster()
        self.phase = phase
        seed =
            ProcessInfo.processInfo.environment["PMEMKIT_CRASH_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 1..<1 << 48)
        random = CampaignRandom(state: seed)
    }

    /// `PMEMKIT_CRASH_LONG=N` runs N times as many kill points.
    static var scale: Int {
        ProcessInfo.processInfo.environment["PMEMKIT_CRASH_LONG"].flatMap { Int($0) }.map { max(1, $0) } ?? 1
    }

    /// The total of kill points tried.
    var killCount: Int { kills.values.reduce(0, +) }

    // MARK: Drawing where to kill

    /// How to kill the next run of a process.
    enum Plan: CustomStringConvertible {
        /// `PMEMKIT_CRASH_AT` for it.
        case point(String)
        /// SIGKILL after this many seconds.
        case timer(Double)
        /// No kill: count the points passed (`PMEMKIT_CRASH_LOG=1`) for later draws.
        case calibrate

        var environment: [String: String] {
            switch self {
            case .point(let at): return ["PMEMKIT_CRASH_AT": at]
            case .timer: return [:]
            case .calibrate: return ["PMEMKIT_CRASH_LOG": "1"]
            }
        }

        var description: String {
            switch self {
            case .point(let at): return "PMEMKIT_CRASH_AT=\(at)"
            case .timer(let seconds): return "timer \(Int(seconds * 1000)) ms"
            case .calibrate: return "calibration"
            }
        }

        /// A crash point plan's label prefix (`agent.drain.` for `agent.drain.started:2`).
        var target: String? {
            guard case .point(let at) = self else { return nil }
            return at.split(separator: ":").first.map(String.init)
        }
    }

    /// A uniform draw in `0..<bound`.
    func next(_ bound: Int) -> Int { Int(random.next() % UInt64(max(bound, 1))) }

    /// Draws a kill: mostly a label of `histogram` (each label equally
    /// likely, N within how often calibration passed it), sometimes the N-th
    /// point of any label starting with `prefix`, sometimes a timer up to `timerLimit`.
    func draw(_ histogram: [String: Int], prefix: String, timerLimit: Double) -> Plan {
        let choice = next(10)
        let labels = histogram.keys.sorted()
        if choice < 2 || labels.isEmpty {
            return .timer(Double(next(1000)) / 1000 * timerLimit)
        }
        if choice < 4 {
            let n = 1 + next(histogram.values.reduce(0, +))
            return .point(prefix.isEmpty ? "\(n)" : "\(prefix):\(n)")
        }
        let label = labels[next(labels.count)]
        return .point("\(label):\(1 + next(histogram[label]!))")
    }

    /// Counts the labels of `crash point N: LABEL` lines a run with
    /// `PMEMKIT_CRASH_LOG=1` printed.
    static func histogram(_ stderr: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in stderr.split(separator: "\n") where line.hasPrefix("crash point ") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let label = line[line.index(colon, offsetBy: 2)...].split(separator: " ").first.map(String.init)
            if let label { counts[label, default: 0] += 1 }
        }
        return counts
    }

    /// Merges calibration counts, keeping each label's largest.
    static func merge(_ a: [String: Int], _ b: [String: Int]) -> [String: Int] {
        a.merging(b) { max($0, $1) }
    }

    /// The label a process died at (its `... (SIGKILL)` line), if a crash point killed it.
    static func killedAt(_ stderr: String) -> String? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.hasSuffix("(SIGKILL)") }),
            let colon = line.firstIndex(of: ":")
        else { return nil }
        return line[line.index(colon, offsetBy: 2)...].split(separator: " ").first.map(String.init)
    }

    // MARK: Tallies and violations

    /// Records a kill at `label` (`timer` for a timer's).
    func tally(_ label: String) { kills[label, default: 0] += 1 }

    /// Records that a drawn point was not reached.
    func tallyUnreached() { unreached += 1 }

    /// Records a long-running process killed by a timer because its drawn point was not reached in time.
    func tallyFallback() {
        fallbacks += 1
        tally("timer")
    }

    /// A broken invariant: fails the test, keeps the cluster's files for a
    /// look (`/tmp/pmemkit-crash-campaign-PHASE`), and counts it.
    func violation(_ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = "[\(phase), seed \(seed), kill \(killCount)] \(message)"
        violations.append(text)
        XCTFail(text, file: file, line: line)
        let keep = "/tmp/pmemkit-crash-campaign-\(phase)"
        if violations.count == 1 {
            try? FileManager.default.removeItem(atPath: keep)
            try? FileManager.default.copyItem(atPath: cluster.directory.path, toPath: keep)
        }
    }

    /// Checks `condition`, a violation with `message` when false; returns it.
    @discardableResult
    func expect(
        _ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #filePath,
        line: UInt = #line
    ) -> Bool {
        if !condition { violation(message(), file: file, line: line) }
        return condition
    }

    /// One line for the log and the docs: points per label, violations, time.
    var summary: String {
        let labels = kills.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "crash campaign [\(phase)]: \(killCount) kill points (\(labels)); \(unreached) drawn points "
            + "not reached, \(fallbacks) timer kills after a point not reached in time; "
            + "\(violations.count) violations; seed \(seed); "
            + String(format: "%.1f s", Date().timeIntervalSince(started))
    }
}

/// The campaign's draws, replayable from the printed seed.
typealias CampaignRandom = SplitMix64
