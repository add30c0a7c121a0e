internal import CPMemShim

/// What a workload made durable and when, recorded through
/// `PersistPath.traced` for store-reordering checks (tests only): the lines
/// each flush wrote back, the lines changed between fences, the fences, and
/// the caller's marks. One trace per process at a time.
package enum PersistenceTrace {
    /// One recorded event; offsets are from the start of the traced range.
    package enum Event: Equatable {
        /// A flush wrote back the line at `offset` holding `bytes` (64).
        case flushed(offset: Int, bytes: [UInt8])
        /// The line at `offset` changed since the previous fence and held `bytes` at this fence.
        case written(offset: Int, bytes: [UInt8])
        /// A fence: every line flushed before it is durable.
        case fence
        /// The caller's mark.
        case mark(UInt64)
    }

    /// Starts tracing `length` bytes at `base` (64-byte aligned).
    package static func begin(_ base: UnsafeMutableRawPointer, length: Int) throws {
        let rc = pmk_trace_begin(base, length)
        guard rc == 0 else { throw PMemError.system("trace", errno: -rc, detail: "cannot start the trace") }
    }

    /// Stops tracing and frees what the trace held.
    package static func end() { pmk_trace_end() }

    /// Records a mark (a transaction returned).
    package static func mark(_ value: UInt64) { pmk_trace_mark(value) }

    /// The events so far; throws when some could not be recorded.
    package static func events() throws -> [Event] {
        guard pmk_trace_failed() == 0 else {
            throw PMemError(.unsupported, operation: "trace", detail: "out of memory while recording")
        }
        var count = 0
        guard let raw = pmk_trace_events(&count) else { return [] }
        return (0..<count).map { index in
            var event = raw[index]
            let bytes = withUnsafeBytes(of: &event.line) { Array($0) }
            switch event.kind {
            case UInt32(PMK_TRACE_FLUSHED.rawValue): return .flushed(offset: Int(event.offset), bytes: bytes)
            case UInt32(PMK_TRACE_WRITTEN.rawValue): return .written(offset: Int(event.offset), bytes: bytes)
            case UInt32(PMK_TRACE_FENCE.rawValue): return .fence
            default: return .mark(event.offset)
            }
        }
    }
}
