internal import CPMemShim

/// One region's deep (WPQ) flush, found once so that each flush is a write
/// to its flush hint addresses and nothing else: `pmemctl flush` and the
/// micro-VMM's virtual flush hints (PMemVirt) both flush through this.
package final class RegionDeepFlush: @unchecked Sendable {
    /// The region, `region0`.
    package let region: String
    /// What a deep flush does there.
    package let capability: DeepFlushCapability
    /// The region's persistence domain (eADR when `cpu_cache`).
    package let persistenceDomain: PersistenceDomain
    // The libndctl context owns the region handle; both live as long as this object.
    private let context: NDContext
    private let handle: OpaquePointer

    /// Looks up `region` (a `notFound` error when there is none).
    package init(region: String, operation: String = "flush") throws {
        context = try NDContext()
        handle = try context.region(named: region, for: operation)
        var info = pmk_region_info()
        pmk_region_get_info(handle, &info)
        capability = DeepFlushCapability(shim: info.deep_flush)
        persistenceDomain = PersistenceDomain(shim: info.persistence_domain)
        self.region = region
    }

    /// Writes the region's flush hints (`ndctl_region_deep_flush`); a region
    /// without hints is left alone (`capability` says why).
    package func flush() throws {
        guard capability == .supported else { return }
        let rc = pmk_region_deep_flush(handle)
        guard rc == 0 else { throw PMemError.system("deep flush", errno: -rc, detail: region) }
    }
}
