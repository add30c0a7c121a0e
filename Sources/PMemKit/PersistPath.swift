// Public: the persist calls below are inlinable (one indirect call through the
// shim's table, inlined into the caller), and an inlinable body may only name
// publicly imported C.
public import CPMemShim
import Foundation

/// The instruction that writes a cache line back toward PMem.
public enum FlushInstruction: String, Sendable, Codable, CaseIterable {
    /// No write-back: the caches are inside the persistence domain (eADR).
    case none
    /// `clwb`.
    case clwb
    /// `clflushopt`.
    case clflushopt
    /// `clflush`.
    case clflush

    var shim: pmk_flush_kind {
        switch self {
        case .none: return PMK_FLUSH_NONE
        case .clwb: return PMK_FLUSH_CLWB
        case .clflushopt: return PMK_FLUSH_CLFLUSHOPT
        case .clflush: return PMK_FLUSH_CLFLUSH
        }
    }
}

/// How large copies reach PMem.
public enum CopyInstructions: String, Sendable, Codable, CaseIterable {
    /// Plain stores, then a flush of what was written.
    case temporal
    /// SSE2 `movntdq`.
    case movntSSE2 = "movnt-sse2"
    /// AVX `vmovntdq`, 32 bytes.
    case movntAVX = "movnt-avx"
    /// AVX-512F `vmovntdq`, 64 bytes.
    case movntAVX512F = "movnt-avx512f"

    var shim: pmk_copy_kind {
        switch self {
        case .temporal: return PMK_COPY_TEMPORAL
        case .movntSSE2: return PMK_COPY_NT_SSE2
        case .movntAVX: return PMK_COPY_NT_AVX
        case .movntAVX512F: return PMK_COPY_NT_AVX512F
        }
    }
}

/// One persist path: the flush and copy instructions a mapping uses, chosen
/// once (like libpmem2's persist functions) and executed through the shim's
/// function table, so no persist call tests CPU features.
///
/// Choice: eADR → fence only; else `clwb`, else `clflushopt`, else `clflush`;
/// then `sfence`. Overrides, so every path is testable on one machine:
/// `PMEMKIT_NO_CLWB=1`, `PMEMKIT_NO_CLFLUSHOPT=1`, `PMEMKIT_FORCE_EADR=1`,
/// `PMEMKIT_NO_MOVNT=1`, `PMEMKIT_NO_AVX512F=1`, `PMEMKIT_NO_AVX=1`, and
/// `PMEMKIT_MOVNT_THRESHOLD=BYTES` (copies at least this long stream whole
/// cache lines with non-temporal stores; the default depends on the CPU,
/// see `defaultMovntThreshold(for:)`; a streamed copy bypasses the cache, so
/// a later read of it misses: raise it for copies that are read back at once).
public struct PersistPath: @unchecked Sendable, Equatable, CustomStringConvertible {
    /// The cache-line write-back instruction.
    public let flush: FlushInstruction
    /// The copy instructions for large copies.
    public let copy: CopyInstructions
    /// Copies of at least this many bytes use non-temporal stores for their whole lines.
    public let movntThreshold: Int
    /// Why this path was chosen, for `pmemctl info`.
    public let reason: String
    /// Why copies stream from `movntThreshold` bytes, for `pmemctl info`.
    public let movntReason: String
    /// The shim's immutable function table; static storage, never freed.
    @usableFromInline let ops: UnsafePointer<pmk_persist_ops>

    /// libpmem's streaming threshold (`PMEM_MOVNT_THRESHOLD`'s default).
    public static let libpmemMovntThreshold = 256

    /// The streaming threshold for `cpu`, and why: a per-CPU decision,
    /// because what a temporal copy costs depends on what the flush does to
    /// the line.
    ///
    /// - AMD (and Hygon, the same cores): `clwb` evicts the line it writes
    ///   back, so a temporal copy pays a read-for-ownership now and a miss on
    ///   the next use; streaming every whole line wins from one line
    ///   (measured 1.76x libpmem at `copy-64B` on an AMD EPYC).
    /// - Everyone else (Intel): `clwb` keeps the line cached and a short
    ///   temporal copy is as cheap as a streamed one (streaming from 64 bytes
    ///   measured 0.77-1.06x libpmem at `copy-64B` on an Intel Xeon), so we
    ///   stream where libpmem does, from 256 bytes: never below parity.
    public static func defaultMovntThreshold(for cpu: CPUFeatures) -> (bytes: Int, reason: String) {
        switch cpu.vendor {
        case "AuthenticAMD", "HygonGenuine":
            return (64, "\(cpu.vendor): clwb evicts, so every whole line streams")
        default:
            let vendor = cpu.vendor.isEmpty ? "unknown vendor" : cpu.vendor
            return (libpmemMovntThreshold, "\(vendor): clwb keeps lines cached; libpmem's threshold")
        }
    }

    init(
        flush: FlushInstruction, copy: CopyInstructions, reason: String,
        movntThreshold: Int = 64, movntReason: String = "fixed"
    ) {
        self.flush = flush
        self.copy = copy
        self.reason = reason
        self.movntThreshold = copy == .temporal ? Int.max : movntThreshold
        self.movntReason = copy == .temporal ? "copies never stream (\(copy.rawValue))" : movntReason
        self.ops = pmk_persist_ops_get(flush.shim, copy.shim)!
    }

    /// Chooses a path for `cpu`, honouring `overrides` (by default the
    /// process's: see `Overrides`).
    ///
    /// - Parameter eADR: the region's persistence domain is the CPU cache.
    public static func select(
        cpu: CPUFeatures, overrides: Overrides = .currentOrDefaults, eADR: Bool = false
    ) -> PersistPath {
        func set(_ variable: OverrideVariable) -> Bool { overrides.isSet(variable) }
        var (threshold, movntReason) = defaultMovntThreshold(for: cpu)
        if let bytes = overrides.byteSize(.movntThreshold) {
            threshold = Int(clamping: bytes)
            movntReason = "PMEMKIT_MOVNT_THRESHOLD"
        }
        let copy: CopyInstructions
        if set(.noMovnt) {
            copy = .temporal
        } else if cpu.avx512f && !set(.noAVX512F) && !set(.noAVX) {
            copy = .movntAVX512F
        } else if cpu.avx && !set(.noAVX) {
            copy = .movntAVX
        } else if cpu.sse2 {
            copy = .movntSSE2
        } else {
            copy = .temporal
        }
        if set(.forceEADR) {
            return PersistPath(
                flush: .none, copy: copy, reason: "PMEMKIT_FORCE_EADR=1", movntThreshold: threshold,
                movntReason: movntReason)
        }
        if eADR {
            return PersistPath(
                flush: .none, copy: copy, reason: "region persistence_domain is cpu_cache",
                movntThreshold: threshold, movntReason: movntReason)
        }
        if cpu.clwb && !set(.noCLWB) {
            return PersistPath(
                flush: .clwb, copy: copy, reason: "CPU has clwb", movntThreshold: threshold,
                movntReason: movntReason)
        }
        let skipped = cpu.clwb ? "PMEMKIT_NO_CLWB=1" : "no clwb"
        if cpu.clflushopt && !set(.noCLFlushOpt) {
            return PersistPath(
                flush: .clflushopt, copy: copy, reason: skipped, movntThreshold: threshold,
                movntReason: movntReason)
        }
        let skipped2 = cpu.clflushopt ? "PMEMKIT_NO_CLFLUSHOPT=1" : "no clflushopt"
        return PersistPath(
            flush: .clflush, copy: copy, reason: "\(skipped), \(skipped2)", movntThreshold: threshold,
            movntReason: movntReason)
    }

    /// The path for this CPU and process environment, outside the eADR domain.
    public static let standard = select(cpu: .current)

    /// The path for this CPU when the caches are persistent.
    public static let eADR = select(cpu: .current, eADR: true)

    /// Human form: `clwb + sfence`, or `sfence only (eADR)`.
    public var description: String {
        flush == .none ? "sfence only (eADR)" : "\(flush.rawValue) + sfence"
    }

    /// Writes back the cache lines covering `[address, address + length)`; no fence.
    @inlinable public func flush(_ address: UnsafeRawPointer, _ length: Int) {
        pmk_ops_flush(ops, address, length)
    }

    /// Waits until earlier flushes and non-temporal stores are ordered (`sfence`).
    @inlinable public func drain() {
        pmk_ops_drain(ops)
    }

    /// Flush, then drain.
    @inlinable public func persist(_ address: UnsafeRawPointer, _ length: Int) {
        pmk_ops_persist(ops, address, length)
    }

    /// Copies and makes the copy persistent; non-temporal stores above 256 bytes.
    @inlinable public func copyPersist(
        to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int
    ) {
        _ = pmk_ops_memcpy_persist(ops, destination, source, count, movntThreshold)
    }

    /// Copies and flushes without the final fence, to batch several copies under one drain.
    @inlinable public func copyNoDrain(
        to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int
    ) {
        _ = ops.pointee.memcpy_nodrain(destination, source, count, movntThreshold)
    }

    /// Fills and makes the fill persistent.
    @inlinable public func setPersist(_ destination: UnsafeMutableRawPointer, value: UInt8, count: Int) {
        pmk_ops_memset_persist(ops, destination, Int32(value), count, movntThreshold)
    }

    /// A path that records every flush and fence of the range a
    /// `PersistenceTrace` watches (store-reordering checks; never for
    /// production: every fence scans the traced range).
    package static var traced: PersistPath {
        PersistPath(ops: pmk_trace_ops(), reason: "traced for a store-reordering check")
    }

    /// Whether this is the recording path (`traced`).
    package var isTraced: Bool { ops == pmk_trace_ops() }

    private init(ops: UnsafePointer<pmk_persist_ops>, reason: String) {
        self.flush = .clwb
        self.copy = .temporal
        self.reason = reason
        self.movntThreshold = Int.max
        self.movntReason = "copies never stream (traced)"
        self.ops = ops
    }

    /// The flush routine as a C function, for C loops that write back what
    /// they store (the heap's relocation); `nil` when no line needs writing
    /// back (eADR), so the caller skips the calls.
    package var cFlushFunction: (@convention(c) (UnsafeRawPointer?, Int) -> Void)? {
        flush == .none ? nil : ops.pointee.flush
    }

    /// Equal when the same instructions are used the same way.
    public static func == (lhs: PersistPath, rhs: PersistPath) -> Bool {
        lhs.flush == rhs.flush && lhs.copy == rhs.copy && lhs.movntThreshold == rhs.movntThreshold
    }
}
