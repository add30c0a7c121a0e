import Foundation

/// What a caller asks for when creating a CXL pmem region.
public struct CXLRegionRequest: Sendable, Equatable {
    /// Memdevs in interleave order (`mem0`, `mem1`).
    public var memdevs: [String]
    /// Bytes; `nil` takes as much as every memdev and the root decoder allow.
    public var size: UInt64?
    /// Interleave ways; `nil` means one per memdev.
    public var ways: Int?
    /// Root decoder; `nil` picks the first pmem-capable one that reaches every memdev.
    public var rootDecoder: String?

    /// Creates a request.
    public init(memdevs: [String], size: UInt64? = nil, ways: Int? = nil, rootDecoder: String? = nil) {
        self.memdevs = memdevs
        self.size = size
        self.ways = ways
        self.rootDecoder = rootDecoder
    }
}

/// A validated CXL region request: the exact decoder, ways and size.
public struct CXLRegionPlan: Sendable, Equatable {
    /// The root decoder the region goes under.
    public var rootDecoder: String
    /// Memdevs in interleave order.
    public var memdevs: [String]
    /// Interleave ways.
    public var ways: Int
    /// Bytes, a multiple of 256 MiB × ways.
    public var size: UInt64

    /// CXL regions come in multiples of 256 MiB per way.
    public static let granule: UInt64 = 256 << 20

    /// Checks `request` against the topology, picking defaults as `cxl create-region` does.
    ///
    /// - Parameter reaches: whether a root decoder routes to a memdev (the shim asks libcxl).
    public static func make(
        for request: CXLRegionRequest, in cxl: CXLTopology, reaches: (String, String) -> Bool
    ) throws -> CXLRegionPlan {
        func invalid(_ detail: String, _ kind: PMemError.Kind = .invalidArgument) -> PMemError {
            PMemError(kind, operation: "create-region", detail: detail)
        }
        guard !cxl.isEmpty else {
            throw invalid("no CXL bus on this machine (libcxl found no memdevs or ports)", .notFound)
        }
        guard !request.memdevs.isEmpty else { throw invalid("give at least one memdev") }
        guard Set(request.memdevs).count == request.memdevs.count else {
            throw invalid("a memdev is listed twice")
        }
        let ways = request.ways ?? request.memdevs.count
        guard ways == request.memdevs.count else {
            throw invalid("--ways \(ways) needs \(ways) memdevs, \(request.memdevs.count) given")
        }
        guard [1, 2, 3, 4, 6, 8, 12, 16].contains(ways) else {
            throw invalid("CXL cannot interleave \(ways) ways")
        }

        var free: [UInt64] = []
        for name in request.memdevs {
            guard let memdev = cxl.memdevs.first(where: { $0.memdev == name }) else {
                let known = cxl.memdevs.map(\.memdev).joined(separator: ", ")
                throw invalid(
                    "no memdev named \(name) (memdevs: \(known.isEmpty ? "none" : known))", .notFound)
            }
            guard memdev.enabled else { throw invalid("\(name) is disabled") }
            guard memdev.pmemSize > 0 else {
                throw invalid("\(name) has no persistent capacity", .unsupported)
            }
            let used = cxl.decoders.filter { $0.memdev == name && $0.mode == "pmem" }.reduce(0) {
                $0 + $1.dpaSize
            }
            let endpointFree = cxl.decoders.contains { $0.memdev == name && $0.size == 0 && $0.dpaSize == 0 }
            guard endpointFree, used < memdev.pmemSize else {
                throw invalid("\(name) is busy: its persistent capacity or decoders are all in use", .busy)
            }
            free.append(memdev.pmemSize - used)
        }

        let roots = cxl.decoders.filter { d in cxl.port(named: d.port)?.kind == .root }
        let root: CXLDecoder
        if let wanted = request.rootDecoder {
            guard let d = roots.first(where: { $0.decoder == wanted }) else {
                let known = roots.map(\.decoder).joined(separator: ", ")
                throw invalid("no root decoder named \(wanted) (root decoders: \(known))", .notFound)
            }
            guard d.pmemCapable else { throw invalid("\(wanted) cannot hold pmem regions") }
            if let missing = request.memdevs.first(where: { !reaches(wanted, $0) }) {
                throw invalid("\(wanted) does not route to \(missing)")
            }
            root = d
        } else {
            let reachesAll = { (d: CXLDecoder) in
                d.pmemCapable && request.memdevs.allSatisfy { reaches(d.decoder, $0) }
            }
            guard let d = roots.first(where: reachesAll) else {
                throw invalid(
                    "no pmem-capable root decoder reaches \(request.memdevs.joined(separator: ", "))")
            }
            root = d
        }
        return try sized(request, root: root, ways: ways, free: free, invalid: invalid)
    }

    private static func sized(
        _ request: CXLRegionRequest, root: CXLDecoder, ways: Int, free: [UInt64],
        invalid: (String, PMemError.Kind) -> PMemError
    ) throws -> CXLRegionPlan {
        let unit = granule * UInt64(ways)
        let extent = root.maxAvailableExtent ?? root.size
        // Sizes from sysfs: saturate rather than trap on a nonsensical one.
        let (spread, spreadOverflows) = (free.min() ?? 0).multipliedReportingOverflow(by: UInt64(ways))
        let capacity = min(spreadOverflows ? .max : spread, extent)
        let size: UInt64
        if let wanted = request.size {
            guard wanted > 0, wanted % unit == 0 else {
                // The next whole granule up, when it fits 64 bits (a size just below 2^64 has none).
                let (up, upOverflows) = (wanted / unit + 1).multipliedReportingOverflow(by: unit)
                let suggestion = upOverflows ? "" : "; did you mean \(ByteSize.format(up))?"
                throw invalid(
                    "size \(ByteSize.format(wanted)) is not a multiple of \(ByteSize.format(unit)) (256M × \(ways) ways)\(suggestion)",
                    .invalidArgument)
            }
            guard wanted <= capacity else {
                throw invalid(
                    "size \(ByteSize.format(wanted)) exceeds what is free: \(ByteSize.format(capacity)) (memdevs and \(root.decoder))",
                    .invalidArgument)
            }
            size = wanted
        } else {
            size = capacity / unit * unit
            guard size > 0 else {
                throw invalid(
                    "no capacity: \(ByteSize.format(capacity)) free, regions need \(ByteSize.format(unit))",
                    .invalidArgument)
            }
        }
        return CXLRegionPlan(rootDecoder: root.decoder, memdevs: request.memdevs, ways: ways, size: size)
    }
}
