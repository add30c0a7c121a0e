internal import CPMemShim
import Foundation

/// The CPU capabilities that decide how data is made persistent, from CPUID.
public struct CPUFeatures: Sendable, Equatable, Codable {
    /// `clflush`: write back and evict, serialized.
    public var clflush: Bool
    /// `clflushopt`: write back and evict, weakly ordered.
    public var clflushopt: Bool
    /// `clwb`: write back, keep the line cached.
    public var clwb: Bool
    /// SSE2 non-temporal stores (16 bytes).
    public var sse2: Bool
    /// AVX non-temporal stores (32 bytes), with OS support for YMM state.
    public var avx: Bool
    /// AVX-512F non-temporal stores (64 bytes), with OS support for ZMM state.
    public var avx512f: Bool
    /// Memory protection keys in the CPU.
    public var pku: Bool
    /// Memory protection keys enabled by the OS.
    public var ospke: Bool
    /// CPUID vendor string.
    public var vendor: String
    /// CPUID brand string.
    public var brand: String

    /// Creates a feature set (for tests and what-if selection).
    public init(
        clflush: Bool = true, clflushopt: Bool = false, clwb: Bool = false, sse2: Bool = true,
        avx: Bool = false, avx512f: Bool = false, pku: Bool = false, ospke: Bool = false,
        vendor: String = "", brand: String = ""
    ) {
        self.clflush = clflush
        self.clflushopt = clflushopt
        self.clwb = clwb
        self.sse2 = sse2
        self.avx = avx
        self.avx512f = avx512f
        self.pku = pku
        self.ospke = ospke
        self.vendor = vendor
        self.brand = brand
    }

    /// This CPU, as CPUID reports it (no overrides applied).
    public static let current: CPUFeatures = {
        let raw = pmk_cpu().pointee
        return CPUFeatures(
            clflush: raw.clflush, clflushopt: raw.clflushopt, clwb: raw.clwb, sse2: raw.sse2,
            avx: raw.avx, avx512f: raw.avx512f, pku: raw.pku, ospke: raw.ospke,
            vendor: shimString(raw.vendor),
            brand: shimString(raw.brand).trimmingCharacters(in: .whitespaces))
    }()
}
