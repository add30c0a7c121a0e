import CPMemShim
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
/// cache lines with non-temporal stores; default 64, so every whole line of
/// a copy bypasses the cache — lower write cost, but a later read of the
/// copy misses the cache; raise it for copies that are read back at once).
public struct PersistPath: @unchecked Sendable, Equatable, CustomStringConvertible {
    /// The cache-line write-back instruction.
    public let flush: FlushInstruction
    /// The copy instructions for large copies.
    public let copy: CopyInstructions
    /// Copies of at least this many bytes use non-temporal stores for their whole lines.
    public let movntThreshold: Int
    /// Why this path was chosen, for `pmemctl info`.
    public let reason: String
    /// The shim's immutable function table; static storage, never freed.
    @usableFromInline let ops: UnsafePointer<pmk_persist_ops>

    /// The default streaming threshold: one whole cache line.
    public static let defaultMovntThreshold = 64

    init(
        flush: FlushInstruction, copy: CopyInstructions, reason: String,
        movntThreshold: Int = defaultMovntThreshold
    ) {
        self.flush = flush
        self.copy = copy
        self.reason = reason
        self.movntThreshold = copy == .temporal ? Int.max : movntThreshold
        self.ops = pmk_persist_ops_get(flush.shim, copy.shim)!
    }

    /// Chooses a path for `cpu`, honouring overrides in `environment`.
    ///
    /// - Parameter eADR: the region's persistence domain is the CPU cache.
    public static func select(
        cpu: CPUFeatures, environment: [String: String] = ProcessInfo.processInfo.environment,
        eADR: Bool = false
    ) -> PersistPath {
        func set(_ name: String) -> Bool { environment[name] == "1" }
        let threshold =
            environment["PMEMKIT_MOVNT_THRESHOLD"].flatMap { try? ByteSize.parse($0) }.map {
                Int(clamping: $0)
            }
            ?? defaultMovntThreshold
        let copy: CopyInstructions
        if set("PMEMKIT_NO_MOVNT") {
            copy = .temporal
        } else if cpu.avx512f && !set("PMEMKIT_NO_AVX512F") && !set("PMEMKIT_NO_AVX") {
            copy = .movntAVX512F
        } else if cpu.avx && !set("PMEMKIT_NO_AVX") {
            copy = .movntAVX
        } else if cpu.sse2 {
            copy = .movntSSE2
        } else {
            copy = .temporal
        }
        if set("PMEMKIT_FORCE_EADR") {
            return PersistPath(
                flush: .none, copy: copy, reason: "PMEMKIT_FORCE_EADR=1", movntThreshold: threshold)
        }
        if eADR {
            return PersistPath(
                flush: .none, copy: copy, reason: "region persistence_domain is cpu_cache",
                movntThreshold: threshold)
        }
        if cpu.clwb && !set("PMEMKIT_NO_CLWB") {
            return PersistPath(flush: .clwb, copy: copy, reason: "CPU has clwb", movntThreshold: threshold)
        }
        let skipped = cpu.clwb ? "PMEMKIT_NO_CLWB=1" : "no clwb"
        if cpu.clflushopt && !set("PMEMKIT_NO_CLFLUSHOPT") {
            return PersistPath(flush: .clflushopt, copy: copy, reason: skipped, movntThreshold: threshold)
        }
        let skipped2 = cpu.clflushopt ? "PMEMKIT_NO_CLFLUSHOPT=1" : "no clflushopt"
        return PersistPath(
            flush: .clflush, copy: copy, reason: "\(skipped), \(skipped2)", movntThreshold: threshold)
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

    /// Equal when the same instructions are used the same way.
    public static func == (lhs: PersistPath, rhs: PersistPath) -> Bool {
        lhs.flush == rhs.flush && lhs.copy == rhs.copy && lhs.movntThreshold == rhs.movntThreshold
    }
}
