import Foundation
@_spi(Primitives) import PMemKit

/// Deterministic crash injection for the crash tests: with
/// `PMEMKIT_HEAP_CRASH_AT=N` the process SIGKILLs itself at the N-th point
/// it passes where a crash matters (around every fence, between redo
/// entries, between relocated slabs). Off by default; then each point costs
/// one predictable branch.
enum CrashPoints {
    /// The point to die at, or 0 when injection is off.
    static let target: UInt64 =
        Overrides.currentOrDefaults.count(.heapCrashAt) ?? 0
    /// Whether injection is on.
    static var enabled: Bool { target != 0 }
    private static let logLabel = Overrides.currentOrDefaults.isSet(.heapCrashLog)
    nonisolated(unsafe) private static let counter: UnsafeMutablePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    /// Counts a crash point; kills the process when it is the chosen one.
    @inline(__always) static func reach(_ label: StaticString) {
        if target != 0 { count(label) }
    }

    private static func count(_ label: StaticString) {
        let n = Atomic64.fetchAdd(counter, 1) + 1
        guard n == target else { return }
        if logLabel {
            let line = "crash point \(n): \(label)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        kill(getpid(), SIGKILL)
    }
}
