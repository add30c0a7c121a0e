internal import CPMemShim
import Foundation

/// Creates and destroys CXL pmem regions. Namespaces on them are then made
/// with `Provisioner`, as on NVDIMM regions.
public enum CXLProvisioner {
    /// Creates a pmem region and returns it as the kernel reports it, with
    /// the nd region libnvdimm made of it. The nd devices appear a moment
    /// after the region is enabled; this waits up to `settle` for them.
    public static func createRegion(_ request: CXLRegionRequest, settle: Duration = .seconds(5)) throws
        -> CXLRegion
    {
        let ctx = try NDContext()
        let topology = try Topology.scan()
        let plan = try CXLRegionPlan.make(for: request, in: topology.cxl) { decoder, memdev in
            guard let handle = findRootDecoder(ctx, decoder) else { return false }
            return pmk_cxl_decoder_targets_memdev(ctx.raw, handle, memdev)
        }
        pmemLog.info(
            "creating CXL pmem region",
            metadata: [
                "decoder": "\(plan.rootDecoder)", "memdevs": "\(plan.memdevs)", "size": "\(plan.size)",
            ])
        var request = pmk_cxl_region_request()
        request.ways = UInt32(plan.ways)
        request.size = plan.size
        withUnsafeMutableBytes(of: &request.uuid) { raw in
            withUnsafeBytes(of: UUID().uuid) { raw.copyMemory(from: $0) }
        }
        var created = [CChar](repeating: 0, count: 64)
        var message = [CChar](repeating: 0, count: 256)
        let cNames = plan.memdevs.map { strdup($0) }
        defer { for name in cNames { free(name) } }
        let rc = plan.rootDecoder.withCString { decoder in
            cNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { names in
                request.root_decoder = decoder
                request.memdevs = names.baseAddress
                return pmk_cxl_region_create(
                    ctx.raw, &request, &created, created.count, &message, message.count)
            }
        }
        guard rc == 0 else {
            let text = shimString(buffer: message)
            throw PMemError(
                PMemError.kind(forErrno: -rc), operation: "create-region", errno: -rc,
                detail: text.isEmpty ? String(cString: strerror(-rc)) : text)
        }
        let name = shimString(buffer: created)
        return try waitForNDRegion(of: name, within: settle)
    }

    /// Disables and deletes the CXL region `name`. Refused while its nd
    /// region holds namespaces, unless `force` (their data is lost).
    public static func destroyRegion(_ name: String, force: Bool = false) throws {
        let topology = try Topology.scan()
        guard let region = topology.cxl.region(named: name) else {
            let known = topology.cxl.regions.map(\.region).joined(separator: ", ")
            throw PMemError(
                .notFound, operation: "destroy-region", errno: ENODEV,
                detail: "no CXL region named \(name) (regions: \(known.isEmpty ? "none" : known))")
        }
        if let nd = region.ndRegion.flatMap(topology.region(named:)), !nd.namespaces.isEmpty {
            let names = nd.namespaces.map(\.name).joined(separator: ", ")
            guard force else {
                throw PMemError(
                    .busy, operation: "destroy-region", errno: EBUSY,
                    detail:
                        "\(name) (\(nd.name)) holds namespaces \(names); destroy them first, or use --force")
            }
            for namespace in nd.namespaces { try Provisioner.destroyNamespace(namespace.name, force: true) }
        }
        let ctx = try NDContext()
        var message = [CChar](repeating: 0, count: 256)
        let rc = pmk_cxl_region_destroy(ctx.raw, name, &message, message.count)
        guard rc == 0 else {
            throw PMemError(
                PMemError.kind(forErrno: -rc), operation: "destroy-region", errno: -rc,
                detail: shimString(buffer: message))
        }
    }

    private static func findRootDecoder(_ ctx: NDContext, _ name: String) -> OpaquePointer? {
        var root = pmk_cxl_root_first(ctx.raw)
        while let r = root {
            var decoder = pmk_cxl_decoder_first(r)
            while let d = decoder {
                var info = pmk_cxl_decoder_info()
                pmk_cxl_decoder_get_info(d, &info)
                if shimString(info.devname) == name { return d }
                decoder = pmk_cxl_decoder_next(d)
            }
            root = pmk_cxl_root_next(r)
        }
        return nil
    }

    /// The nd devices of a new region appear asynchronously (about 0.1 s later).
    private static func waitForNDRegion(of name: String, within limit: Duration) throws -> CXLRegion {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var last: CXLRegion?
        repeat {
            let topology = try Topology.scan()
            last = topology.cxl.region(named: name)
            if let region = last, region.ndRegion != nil { return region }
            Thread.sleep(forTimeInterval: 0.05)
        } while clock.now < deadline
        guard let region = last else {
            throw PMemError(
                .system, operation: "create-region", detail: "\(name) was created but is no longer listed")
        }
        throw PMemError(
            .system, operation: "create-region",
            detail:
                "\(name) is enabled but libnvdimm made no nd region of it within \(limit) (is cxl_pmem loaded?)"
                + (region.enabled ? "" : "; the region is not enabled"))
    }
}
