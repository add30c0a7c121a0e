internal import CPMemShim
import Foundation

/// Creates, reconfigures and destroys namespaces, and initializes labels.
///
/// Policy lives here (defaults, validation, in-use checks); the shim runs
/// the libndctl steps. Every operation re-reads the topology and returns
/// what the kernel reports afterwards, not what was asked for.
public enum Provisioner {
    /// Carves a namespace out of `regionName` and returns it as the kernel now reports it.
    ///
    /// A label-less region whose DIMMs have a label area gets labels first
    /// (as `ndctl create-namespace` does when it can).
    public static func createNamespace(region regionName: String, _ request: NamespaceRequest) throws
        -> Namespace
    {
        let operation = "create-namespace"
        var topology = try Topology.scan()
        guard var region = topology.region(named: regionName) else {
            throw noRegion(regionName, in: topology, operation: operation)
        }
        if !region.labeled && labelsPossible(region, topology) {
            pmemLog.info("\(regionName) is label-less and its DIMMs have a label area: initializing labels")
            try initializeLabels(region: regionName)
            topology = try Topology.scan()
            region = topology.region(named: regionName) ?? region
        }
        if !region.labeled {
            return try createOnLabelless(region, request, operation: operation)
        }
        let plan = try NamespacePlan.make(for: request, in: region)
        pmemLog.debug(
            "creating namespace",
            metadata: [
                "region": "\(regionName)", "mode": "\(plan.mode.rawValue)", "size": "\(plan.size)",
                "align": "\(plan.align)",
            ])
        let ctx = try NDContext()
        var shimRequest = makeShimRequest(plan)
        var created = [CChar](repeating: 0, count: 64)
        var message = [CChar](repeating: 0, count: 256)
        let rc = withName(plan.name) { name in
            shimRequest.name = name
            return pmk_namespace_create(
                ctx.raw, regionName, &shimRequest, &created, created.count, &message, message.count)
        }
        try check(rc, message, operation: operation)
        return try rescan(namespace: shimString(buffer: created), operation: operation)
    }

    /// Gives the existing namespace `name` a new mode; its data is lost.
    ///
    /// Without `force`, a namespace that is mounted, open or mapped is refused.
    public static func reconfigureNamespace(_ name: String, _ request: NamespaceRequest, force: Bool = false)
        throws
        -> Namespace
    {
        let operation = "reconfigure-namespace"
        let topology = try Topology.scan()
        guard let namespace = topology.namespace(named: name),
            let region = topology.region(holdingNamespace: name)
        else {
            throw PMemError(
                .notFound, operation: operation, errno: ENODEV, detail: "no namespace named \(name)")
        }
        if !force { try refuseIfInUse(namespace, operation: operation) }
        // The capacity is the namespace's own; the region's free space does not matter.
        var sizing = region
        sizing.maxAvailableExtent = namespace.rawSize
        let plan = try NamespacePlan.make(for: request, in: sizing, keepingSize: namespace.rawSize)
        let ctx = try NDContext()
        var shimRequest = makeShimRequest(plan)
        if !region.labeled { shimRequest.size = 0 }
        var message = [CChar](repeating: 0, count: 256)
        let rc = withName(plan.name) { cname in
            shimRequest.name = cname
            return pmk_namespace_reconfigure(ctx.raw, name, &shimRequest, true, &message, message.count)
        }
        try check(rc, message, operation: operation)
        return try rescan(namespace: name, operation: operation)
    }

    /// Disables `name`, clears its info block and frees its labels.
    ///
    /// Without `force`, a namespace that is mounted, open or mapped is refused.
    public static func destroyNamespace(_ name: String, force: Bool = false) throws {
        let operation = "destroy-namespace"
        let topology = try Topology.scan()
        guard let namespace = topology.namespace(named: name) else {
            throw PMemError(
                .notFound, operation: operation, errno: ENODEV, detail: "no namespace named \(name)")
        }
        if !force { try refuseIfInUse(namespace, operation: operation) }
        let ctx = try NDContext()
        var message = [CChar](repeating: 0, count: 256)
        let rc = pmk_namespace_destroy(ctx.raw, name, true, &message, message.count)
        try check(rc, message, operation: operation)
    }

    /// Writes empty label index blocks on every DIMM of a label-less region.
    ///
    /// The region's label-less namespace disappears; unless `force`, that is
    /// refused while it is mounted, open or mapped. Other regions on the same
    /// DIMMs are disabled while the labels are written and become labelled too
    /// (the label area is the DIMMs'), so their namespaces must not be in use either.
    public static func initializeLabels(region: String, force: Bool = false) throws {
        let topology = try Topology.scan()
        guard let model = topology.region(named: region) else {
            throw noRegion(region, in: topology, operation: "init-labels")
        }
        if !force {
            // The label area is the DIMMs': regions sharing one are disabled while it is written.
            let dimms = Set(model.mappings.map(\.dimm))
            let sharing = topology.regions.filter { other in
                other.name != region && !dimms.isDisjoint(with: other.mappings.map(\.dimm))
            }
            for namespace in model.namespaces + sharing.flatMap(\.namespaces) {
                try refuseIfInUse(namespace, operation: "init-labels")
            }
        }
        let ctx = try NDContext()
        var message = [CChar](repeating: 0, count: 256)
        let rc = pmk_region_init_labels(ctx.raw, region, &message, message.count)
        try check(rc, message, operation: "init-labels")
    }

    /// Deep-flushes (WPQ) the region named `name` and returns what it did.
    public static func deepFlush(region name: String) throws -> DeepFlushCapability {
        let target = try RegionDeepFlush(region: name)
        try target.flush()
        return target.capability
    }

    // MARK: - Helpers

    private static func labelsPossible(_ region: Region, _ topology: Topology) -> Bool {
        let dimms = topology.buses.flatMap(\.dimms)
        let names = Set(region.mappings.map(\.dimm))
        return !names.isEmpty && dimms.filter { names.contains($0.name) }.allSatisfy(\.labelsSupported)
    }

    /// A label-less region holds one namespace spanning it; "creating" means giving that one a mode.
    private static func createOnLabelless(_ region: Region, _ request: NamespaceRequest, operation: String)
        throws
        -> Namespace
    {
        guard let only = region.namespaces.first else {
            throw PMemError(
                .unsupported, operation: operation,
                detail: "\(region.name) is label-less and has no namespace to configure")
        }
        if let size = request.size, size != only.rawSize {
            throw PMemError(
                .invalidArgument, operation: operation,
                detail:
                    "\(region.name) is label-less: its one namespace spans \(ByteSize.format(region.size)); omit --size"
            )
        }
        guard only.mode == .raw else {
            throw PMemError(
                .busy, operation: operation,
                detail: "\(region.name) is label-less and \(only.name) is already \(only.mode.rawValue); "
                    + "reconfigure it with --reconfigure \(only.name) or destroy it first")
        }
        var request = request
        request.size = nil
        return try reconfigureNamespace(only.name, request)
    }

    private static func makeShimRequest(_ plan: NamespacePlan) -> pmk_ns_request {
        var r = pmk_ns_request()
        r.mode = plan.mode.shim
        r.size = plan.size
        r.align = UInt(plan.align)
        setUUID(&r.uuid, UUID())
        setUUID(&r.mode_uuid, UUID())
        return r
    }

    private static func setUUID<T>(_ field: inout T, _ uuid: UUID) {
        withUnsafeMutableBytes(of: &field) { raw in
            withUnsafeBytes(of: uuid.uuid) { raw.copyMemory(from: $0) }
        }
    }

    private static func withName<R>(_ name: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let name else { return body(nil) }
        return name.withCString { body($0) }
    }

    private static func check(_ rc: Int32, _ message: [CChar], operation: String) throws {
        guard rc != 0 else { return }
        let text = shimString(buffer: message)
        throw PMemError(
            PMemError.kind(forErrno: -rc), operation: operation, errno: -rc,
            detail: text.isEmpty ? String(cString: strerror(-rc)) : text)
    }

    private static func rescan(namespace name: String, operation: String) throws -> Namespace {
        guard let namespace = try Topology.scan().namespace(named: name) else {
            throw PMemError(
                .system, operation: operation,
                detail: "\(name) was configured but the kernel no longer lists it")
        }
        return namespace
    }

    private static func noRegion(_ name: String, in topology: Topology, operation: String) -> PMemError {
        let known = topology.regions.map(\.name)
        let hint =
            known.isEmpty ? "no NVDIMM regions on this machine" : "regions: \(known.joined(separator: ", "))"
        return PMemError(
            .notFound, operation: operation, errno: ENODEV, detail: "no region named \(name) (\(hint))")
    }

    private static func refuseIfInUse(_ namespace: Namespace, operation: String) throws {
        if let user = DeviceUsers.firstUser(of: namespace) {
            throw PMemError(
                .busy, operation: operation, errno: EBUSY,
                detail: "\(namespace.name) is in use (\(user)); unmount or stop it, or use --force")
        }
    }
}
