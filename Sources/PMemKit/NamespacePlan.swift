import Foundation

/// What a caller asks for when creating or reconfiguring a namespace.
public struct NamespaceRequest: Sendable, Equatable {
    /// fsdax, devdax or raw.
    public var mode: NamespaceMode
    /// Bytes; `nil` takes the largest free extent (or keeps the size when reconfiguring).
    public var size: UInt64?
    /// Mapping alignment for fsdax and devdax; `nil` picks 2 MiB where supported.
    public var align: UInt64?
    /// Alternate name stored in the label.
    public var name: String?

    /// Creates a request.
    public init(mode: NamespaceMode, size: UInt64? = nil, align: UInt64? = nil, name: String? = nil) {
        self.mode = mode
        self.size = size
        self.align = align
        self.name = name
    }
}

/// A validated request: the exact size and alignment the shim will be given.
public struct NamespacePlan: Sendable, Equatable {
    /// The mode.
    public var mode: NamespaceMode
    /// Bytes, a multiple of `align × interleave ways`.
    public var size: UInt64
    /// Alignment, bytes; 0 for raw.
    public var align: UInt64
    /// Alternate name.
    public var name: String?

    /// The smallest fsdax or devdax namespace the kernel accepts.
    public static let minimumDaxSize: UInt64 = 16 << 20
    /// Preferred alignment: huge pages for DAX mappings.
    public static let preferredAlign: UInt64 = 2 << 20

    /// Checks `request` against `region` and fills in defaults, as
    /// `ndctl create-namespace` does. Throws an `invalidArgument` error that
    /// names the problem and, where it can, the value that would work.
    public static func make(
        for request: NamespaceRequest, in region: Region, pageSize: UInt64 = UInt64(getpagesize()),
        keepingSize existing: UInt64? = nil
    ) throws -> NamespacePlan {
        func invalid(_ detail: String) -> PMemError {
            PMemError(.invalidArgument, operation: "create-namespace", detail: "\(region.name): \(detail)")
        }
        guard [.fsdax, .devdax, .raw].contains(request.mode) else {
            throw invalid("mode \(request.mode.rawValue) is not supported; use fsdax, devdax or raw")
        }
        guard region.enabled else { throw invalid("the region is disabled") }
        guard !region.readonly else { throw invalid("the region is read-only") }

        let align = try alignment(for: request, in: region, pageSize: pageSize, invalid: invalid)
        let available = existing ?? (region.labeled ? region.maxAvailableExtent : region.size)
        let ways = UInt64(max(1, region.interleaveWays))
        let (unit, unitOverflows) = max(align, pageSize).multipliedReportingOverflow(by: ways)
        guard !unitOverflows else {
            throw invalid("alignment \(max(align, pageSize)) × \(ways) ways is too large")
        }
        let size: UInt64
        if let wanted = request.size {
            size = wanted
        } else {
            // Take the largest free extent, rounded down to what the alignment allows.
            size = available / unit * unit
        }
        guard size > 0 else {
            throw invalid("no free capacity (available \(ByteSize.format(available)))")
        }
        if size % unit != 0 {
            // The next multiple up, when it fits 64 bits (a size just below 2^64 has none).
            let (up, upOverflows) = (size / unit + 1).multipliedReportingOverflow(by: unit)
            throw invalid(
                "size \(ByteSize.format(size)) is not a multiple of \(ByteSize.format(unit)) "
                    + "(alignment \(ByteSize.format(align)) × \(ways) ways)"
                    + (upOverflows ? "" : "; did you mean \(ByteSize.format(up))?"))
        }
        if let regionAlign = region.align, regionAlign > 0, size % regionAlign != 0 {
            throw invalid(
                "size \(ByteSize.format(size)) is not a multiple of the region alignment \(ByteSize.format(regionAlign))"
            )
        }
        if request.mode != .raw && size < minimumDaxSize {
            throw invalid(
                "\(request.mode.rawValue) namespaces must be at least 16M (asked for \(ByteSize.format(size)))"
            )
        }
        if size > available {
            throw invalid(
                "size \(ByteSize.format(size)) exceeds the largest free extent \(ByteSize.format(available))")
        }
        return NamespacePlan(
            mode: request.mode, size: size, align: request.mode == .raw ? 0 : align, name: request.name)
    }

    private static func alignment(
        for request: NamespaceRequest, in region: Region, pageSize: UInt64, invalid: (String) -> PMemError
    ) throws -> UInt64 {
        let supported = request.mode == .fsdax ? region.fsdaxAlignments : region.devdaxAlignments
        if request.mode == .raw {
            if let align = request.align, align != pageSize {
                throw invalid("raw namespaces take no alignment")
            }
            return pageSize
        }
        if let align = request.align {
            guard align > 0, align & (align - 1) == 0 else {
                throw invalid("alignment \(align) is not a power of two")
            }
            if !supported.isEmpty && !supported.contains(align) {
                let list = supported.map { ByteSize.format($0) }.joined(separator: ", ")
                throw invalid(
                    "\(request.mode.rawValue) alignment \(ByteSize.format(align)) is not supported here; use one of \(list)"
                )
            }
            return align
        }
        var align =
            supported.contains(preferredAlign) || supported.isEmpty ? preferredAlign : supported.max()!
        // A region that does not start on the alignment falls back to pages (as ndctl does).
        if let start = region.resource, start % align != 0 {
            align = supported.contains(pageSize) || supported.isEmpty ? pageSize : supported.min()!
        }
        return align
    }
}
