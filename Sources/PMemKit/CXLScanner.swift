internal import CPMemShim

extension CXLTopology {
    /// Walks libcxl: memdevs, then each root port's children and endpoints,
    /// their decoders, and the regions under root decoders.
    /// With `health`, each memdev is asked for its health (a mailbox command).
    static func scan(_ ctx: NDContext, health: Bool = false) -> CXLTopology {
        var t = CXLTopology()
        var memdev = pmk_cxl_memdev_first(ctx.raw)
        while let m = memdev {
            var info = pmk_cxl_memdev_info()
            pmk_cxl_memdev_get_info(m, &info)
            var model = CXLMemdev(shim: info)
            if health {
                var h = pmk_cxl_memdev_health()
                pmk_cxl_memdev_get_health(m, &h)
                model.health = CXLMemdevHealth(shim: h)
            }
            t.memdevs.append(model)
            memdev = pmk_cxl_memdev_next(m)
        }
        var root = pmk_cxl_root_first(ctx.raw)
        while let r = root {
            t.walk(port: r)
            root = pmk_cxl_root_next(r)
        }
        return t
    }

    private mutating func walk(port handle: OpaquePointer) {
        var info = pmk_cxl_port_info()
        pmk_cxl_port_get_info(handle, &info)
        let port = CXLPort(shim: info)
        ports.append(port)
        var decoder = pmk_cxl_decoder_first(handle)
        while let d = decoder {
            var dinfo = pmk_cxl_decoder_info()
            pmk_cxl_decoder_get_info(d, &dinfo)
            decoders.append(
                CXLDecoder(shim: dinfo, isRoot: port.kind == .root, isEndpoint: port.kind == .endpoint))
            if port.kind == .root { collectRegions(under: d) }
            decoder = pmk_cxl_decoder_next(d)
        }
        var child = pmk_cxl_child_first(handle)
        while let c = child {
            walk(port: c)
            child = pmk_cxl_child_next(c)
        }
        var endpoint = pmk_cxl_endpoint_first(handle)
        while let e = endpoint {
            walk(port: e)
            endpoint = pmk_cxl_endpoint_next(e)
        }
    }

    private mutating func collectRegions(under decoder: OpaquePointer) {
        var region = pmk_cxl_region_first(decoder)
        while let r = region {
            var info = pmk_cxl_region_info()
            pmk_cxl_region_get_info(r, &info)
            // Target memdevs are filled once every endpoint decoder has been read.
            regions.append(CXLRegion(shim: info, decoders: []))
            region = pmk_cxl_region_next(r)
        }
    }

    /// Fills target memdevs and the nd region behind each CXL region (same physical address).
    mutating func join(ndRegions: [Region]) {
        for i in regions.indices {
            for j in regions[i].targets.indices {
                regions[i].targets[j].memdev =
                    decoders.first { $0.decoder == regions[i].targets[j].decoder }?.memdev
            }
            if let start = regions[i].resource {
                regions[i].ndRegion = ndRegions.first { $0.resource == start }?.name
            }
        }
    }
}
