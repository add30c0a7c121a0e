internal import CPMemShim
import Foundation

extension Topology {
    /// Reads the machine's buses, DIMMs, regions, namespaces, DAX devices and CXL topology.
    ///
    /// With `health`, also each DIMM's SMART data (a command to every DIMM) and
    /// the bad sectors of every region and namespace. With no NVDIMM the result
    /// is empty, not an error.
    public static func scan(health: Bool = false) throws -> Topology {
        let ctx = try NDContext()
        var topology = Topology()
        var bus = pmk_bus_first(ctx.raw)
        while let b = bus {
            topology.buses.append(scanBus(b, health: health))
            bus = pmk_bus_next(b)
        }
        var daxRegion = pmk_dax_region_first(ctx.raw)
        while let r = daxRegion {
            var dev = pmk_dax_dev_first(r)
            while let d = dev {
                var info = pmk_dax_info()
                pmk_dax_dev_get_info(d, &info)
                if info.size > 0 { topology.daxDevices.append(DaxDevice(shim: info)) }
                dev = pmk_dax_dev_next(d)
            }
            daxRegion = pmk_dax_region_next(r)
        }
        topology.cxl = CXLTopology.scan(ctx, health: health)
        topology.cxl.join(ndRegions: topology.regions)
        return topology
    }

    private static func scanBus(_ handle: OpaquePointer, health: Bool) -> Bus {
        var info = pmk_bus_info()
        pmk_bus_get_info(handle, &info)
        var bus = Bus(shim: info)
        var dimm = pmk_dimm_first(handle)
        while let d = dimm {
            var dinfo = pmk_dimm_info()
            pmk_dimm_get_info(d, &dinfo)
            var model = DIMM(shim: dinfo)
            var hinfo = pmk_dimm_health()
            pmk_dimm_get_health(d, health, &hinfo)
            model.apply(health: hinfo, smart: health)
            bus.dimms.append(model)
            dimm = pmk_dimm_next(d)
        }
        var region = pmk_region_first(handle)
        while let r = region {
            bus.regions.append(scanRegion(r, health: health))
            region = pmk_region_next(r)
        }
        return bus
    }

    private static func scanRegion(_ handle: OpaquePointer, health: Bool) -> Region {
        var info = pmk_region_info()
        pmk_region_get_info(handle, &info)
        var region = Region(shim: info)
        var mapping = pmk_mapping_first(handle)
        while let m = mapping {
            var minfo = pmk_mapping_info()
            pmk_mapping_get_info(m, &minfo)
            region.mappings.append(RegionMapping(shim: minfo))
            mapping = pmk_mapping_next(m)
        }
        if health {
            let read = BadBlock.shimList { pmk_region_badblocks(handle, $0, $1, $2, $3) }
            if read.rc == 0 { (region.badblockCount, region.badblocks) = (read.sectors, read.ranges) }
        }
        var ns = pmk_namespace_first(handle)
        while let n = ns {
            var ninfo = pmk_namespace_info()
            pmk_namespace_get_info(n, &ninfo)
            var namespace = Namespace(shim: ninfo)
            if health {
                let read = BadBlock.shimList { pmk_namespace_badblocks(n, $0, $1, $2, $3) }
                if read.rc == 0 {
                    (namespace.badblockCount, namespace.badblocks) = (read.sectors, read.ranges)
                }
            }
            region.namespaces.append(namespace)
            ns = pmk_namespace_next(n)
        }
        return region
    }
}
