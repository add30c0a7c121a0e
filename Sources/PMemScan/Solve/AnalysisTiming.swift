import Foundation

/// Opt-in phase times for whoever tunes the analysis's speed: with
/// `PMEMSCAN_TIMING=1`, each analysis writes one line per phase to stderr (wall
/// milliseconds summed over the threads that ran it, and how many times it ran).
/// No contract; off, each phase costs one flag test.
final class AnalysisTiming: @unchecked Sendable {
    /// Whether `PMEMSCAN_TIMING` is set (read once).
    static let enabled = ProcessInfo.processInfo.environment["PMEMSCAN_TIMING"] != nil

    private let lock = NSLock()
    private let start = DispatchTime.now().uptimeNanoseconds
    private var totals: [String: (nanoseconds: UInt64, count: Int)] = [:]
    private var order: [String] = []

    /// Runs `body`, adding its wall time to `phase` when timing is on.
    @inline(__always)
    func measure<T, E: Error>(_ phase: String, _ body: () throws(E) -> T) throws(E) -> T {
        guard Self.enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(phase, DispatchTime.now().uptimeNanoseconds - start) }
        return try body()
    }

    private func add(_ phase: String, _ nanoseconds: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        if totals[phase] == nil { order.append(phase) }
        let old = totals[phase] ?? (0, 0)
        totals[phase] = (old.nanoseconds + nanoseconds, old.count + 1)
    }

    /// Writes the phases, in the order first seen, then the wall time since this
    /// object was made, to stderr.
    func report() {
        guard Self.enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let wall = DispatchTime.now().uptimeNanoseconds - start
        for phase in order {
            let total = totals[phase]!
            AnalysisTrace.emit(
                "pmemscan timing: \(phase) \(String(format: "%.1f", Double(total.nanoseconds) / 1e6)) ms"
                    + " (\(total.count)x)")
        }
        AnalysisTrace.emit("pmemscan timing: wall \(String(format: "%.1f", Double(wall) / 1e6)) ms")
    }
}
