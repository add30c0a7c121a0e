// Why a C word and SPI: see pmk_crash.h (the off path must be one load and
// one branch in every module that has points) and Atomic64.swift (an
// inlinable body may only name publicly imported C; SPI keeps it out of the
// public API: only a sibling's `@_spi(CrashPoints) import PMemKit` sees it).
public import CPMemShim
import Foundation

/// Deterministic crash injection for the crash campaign (docs/RELIABILITY.md):
/// every persistence step of the heap and of replication calls
/// `reach("module.phase.step")`; with `PMEMKIT_CRASH_AT=N` the process
/// SIGKILLs itself at the N-th point it passes, with `PREFIX:N` at the N-th
/// point whose label starts with `PREFIX` (only those are counted).
/// `PMEMKIT_CRASH_LOG=1` names every counted point on stderr
/// (`crash point N: LABEL`) and, at a normal exit, how many were reached
/// (`crash points reached: N`), so a harness can draw points within range.
/// The point a process dies at is always named (`... : LABEL (SIGKILL)`).
///
/// Off by default; then a point costs one load and one predictable branch.
@_spi(CrashPoints) public enum CrashPoints {
    /// Counts a crash point; kills the process when it is the chosen one.
    @inlinable @inline(__always)
    public static func reach(_ label: StaticString) {
        if pmk_crash_is_off() == 0 { passed(label) }
    }

    /// How many points this process counted so far (the plan's prefix applies).
    public static var reached: UInt64 { Atomic64.loadAcquire(counter) }

    /// The plan in force (from the environment, read once).
    public static var plan: CrashPlan { state.plan }

    /// Decides the mode on first use, then counts, logs and kills as the plan says.
    @usableFromInline
    static func passed(_ label: StaticString) {
        let state = self.state
        guard state.plan.armed else { return pmk_crash_set_mode(UInt64(PMK_CRASH_OFF)) }
        guard state.plan.counts(label) else { return }
        let n = Atomic64.fetchAdd(counter, 1) + 1
        if n == state.plan.target {
            say("crash point \(n): \(label) (SIGKILL)\n")
            kill(getpid(), SIGKILL)
        } else if state.plan.log {
            say("crash point \(n): \(label)\n")
        }
    }

    /// The plan, read once; arming registers the exit report.
    private struct State: Sendable {
        let plan: CrashPlan
        init() {
            plan = CrashPlan.fromEnvironment()
            guard plan.armed else { return }
            if plan.log { atexit { CrashPoints.say("crash points reached: \(CrashPoints.reached)\n") } }
            pmk_crash_set_mode(UInt64(PMK_CRASH_ARMED))
        }
    }

    private static let state = State()

    nonisolated(unsafe) private static let counter: UnsafeMutablePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    /// One `write(2)` to stderr: whole lines even from several threads, and
    /// nothing buffered that a SIGKILL would lose.
    private static func say(_ line: String) {
        var line = line
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
