// fuzz-sysfs-text: the Swift readers of kernel text and of what the C shim
// reads from sysfs: `/proc/self/mounts` and `/proc/PID/maps` (DeviceUsers:
// is a namespace in use), `/proc/PID/stat` (the agent's process watcher), a
// DAX device's sysfs `size`, device numbers, and the topology the shim's
// structs carry (names are sysfs text, unterminated at worst) through the
// conversions, the CXL-to-nd join and the `list --json` encoding. Each must
// answer or refuse, never trap. (The C parsers: fuzz-sysfs.)
//
// Input: a mode byte (mod 3), then: 0: the text for every text reader;
// 1: a region, a namespace, a CXL decoder and a CXL region struct as raw
// bytes; 2: device numbers (u64 each).
#if DEBUG
    internal import CPMemShim
    import Foundation
    import FuzzSupport
    @testable import PMemKit
    @testable import PMemReplication

    enum SysfsTextFuzz {
        static let target = FuzzTarget(name: "sysfs-text", run: run, seeds: seeds)
        static let devices = ["/dev/pmem0", "/dev/dax0.1"]

        static func run(_ data: UnsafeRawBufferPointer) {
            var reader = ByteReader(data)
            switch (reader.integer(UInt8.self) ?? 0) % 3 {
            case 0:
                let text = String(decoding: reader.rest(), as: UTF8.self)
                _ = DeviceUsers.mountPoint(of: devices, mounts: text)
                _ = DeviceUsers.mapped(devices, maps: text)
                _ = ProcessWatcher.isRunning(stat: text)
                if let size = PMemMapping.sizeAttribute(text) { precondition(size > 0, "size \(size)") }
            case 1:
                structs(&reader)
            default:
                while let dev = reader.integer(UInt64.self) {
                    _ = (DeviceNumber.major(dev_t(dev)), DeviceNumber.minor(dev_t(dev)))
                }
            }
        }

        /// Fills a C struct with the next bytes (zeros past the end).
        static func fill<T>(_ value: inout T, from reader: inout ByteReader) {
            let bytes = reader.fixed(MemoryLayout<T>.size)
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        }

        static func structs(_ reader: inout ByteReader) {
            // Counts and flags as the shim sets them (bounded counts, 0 or 1 in a bool).
            var region = pmk_region_info()
            fill(&region, from: &reader)
            region.n_fsdax_aligns %= UInt32(PMK_MAX_ALIGNS + 1)
            region.n_devdax_aligns %= UInt32(PMK_MAX_ALIGNS + 1)
            let flags = reader.integer(UInt8.self) ?? 0
            (region.enabled, region.readonly, region.labeled) = (
                flags & 1 != 0, flags & 2 != 0, flags & 4 != 0
            )
            var namespace = pmk_namespace_info()
            fill(&namespace, from: &reader)
            (namespace.enabled, namespace.active) = (flags & 8 != 0, flags & 16 != 0)
            var decoder = pmk_cxl_decoder_info()
            fill(&decoder, from: &reader)
            (decoder.pmem_capable, decoder.volatile_capable, decoder.locked) =
                (flags & 32 != 0, flags & 64 != 0, flags & 128 != 0)
            var cxlRegion = pmk_cxl_region_info()
            fill(&cxlRegion, from: &reader)
            cxlRegion.n_targets %= UInt32(PMK_CXL_MAX_TARGETS + 1)
            let more = reader.integer(UInt8.self) ?? 0
            (cxlRegion.enabled, cxlRegion.committed) = (more & 1 != 0, more & 2 != 0)

            var nd = Region(shim: region)
            nd.namespaces = [Namespace(shim: namespace)]
            let decoders = [CXLDecoder(shim: decoder, isRoot: more & 4 != 0, isEndpoint: more & 8 != 0)]
            var cxl = CXLTopology(
                decoders: decoders, regions: [CXLRegion(shim: cxlRegion, decoders: decoders)])
            cxl.join(ndRegions: [nd])
            let topology = Topology(buses: [Bus(name: "ndbus0", provider: "fuzz", regions: [nd])], cxl: cxl)
            _ = try? JSONEncoder().encode(topology)
        }

        /// Texts as the kernel writes them, and structs the shim filled on a lab machine's shapes.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            func text(_ s: String) -> [UInt8] { [0] + Array(s.utf8) }
            var region = pmk_region_info()
            setShimString(&region.devname, "region0")
            setShimString(&region.type, "pmem")
            region.size = 1 << 30
            region.available_size = 1 << 29
            region.max_available_extent = 1 << 29
            region.resource = 0x1_0000_0000
            region.align = 16 << 20
            region.interleave_ways = 1
            region.n_fsdax_aligns = 2
            region.fsdax_aligns.0 = 4096
            region.fsdax_aligns.1 = 2 << 20
            var namespace = pmk_namespace_info()
            setShimString(&namespace.devname, "namespace0.0")
            setShimString(&namespace.uuid, "3f1c6b7e-5a2d-4b8e-9c41-2d7f0e8a6b13")
            setShimString(&namespace.blockdev, "pmem0")
            namespace.size = 1 << 29
            namespace.raw_size = 1 << 29
            var decoder = pmk_cxl_decoder_info()
            setShimString(&decoder.devname, "decoder0.0")
            setShimString(&decoder.port, "root0")
            decoder.resource = 0x1_0000_0000
            decoder.size = 1 << 30
            decoder.interleave_ways = 1
            decoder.interleave_granularity = 256
            var cxlRegion = pmk_cxl_region_info()
            setShimString(&cxlRegion.devname, "region0")
            setShimString(&cxlRegion.decoder, "decoder0.0")
            cxlRegion.resource = 0x1_0000_0000
            cxlRegion.size = 1 << 30
            cxlRegion.interleave_ways = 1
            cxlRegion.n_targets = 1
            withUnsafeMutableBytes(of: &cxlRegion.targets) { $0.copyBytes(from: Array("decoder2.0".utf8)) }
            var structs: [UInt8] = [1]
            withUnsafeBytes(of: region) { structs += $0 }
            structs.append(0b0101_0101)
            withUnsafeBytes(of: namespace) { structs += $0 }
            withUnsafeBytes(of: decoder) { structs += $0 }
            withUnsafeBytes(of: cxlRegion) { structs += $0 }
            structs.append(0b0111)
            var numbers: [UInt8] = [2]
            for dev: UInt64 in [0x0103, 0xfb00_0001, 0x0000_0fff_0000_0000, 0x8_0000_3001] {
                numbers.append(le: dev)
            }
            return [
                (
                    "mounts",
                    text("/dev/pmem0 /mnt/pmem ext4 rw,relatime,dax=always 0 0\nproc /proc proc rw 0 0\n")
                ),
                ("mounts-partition", text("/dev/pmem0p1 /mnt/my\\040pmem xfs rw 0 0\n")),
                (
                    "maps",
                    text(
                        "7f2a4c000000-7f2a8c000000 rw-s 00000000 00:06 312    /dev/dax0.10\n"
                            + "7f2a8c000000-7f2a8c021000 r--p 00000000 fd:01 1048    /usr/lib/libc.so.6\n")
                ),
                (
                    "stat",
                    text("4242 (repl (workload)) S 1 4242 4242 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0")
                ),
                ("stat-zombie", text("77 (app) Z 1 77 77 0 -1 4227084 0 0 0 0 0 0")),
                ("size", text("4294967296\n")),
                ("structs", structs),
                ("device-numbers", numbers),
            ]
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(SysfsTextFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
