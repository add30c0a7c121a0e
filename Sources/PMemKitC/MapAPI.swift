// Public: the C entry points take the header's structs (pmemkit.h is this module's interface).
public import CPMemKitAPI
import Foundation
import PMemKit

/// A mapping a C caller holds, with its backing report as C strings (made
/// once, freed with the mapping).
final class CMapping {
    let mapping: PMemMapping
    /// The report `pmk_map_report` hands out; its strings live as long as the mapping.
    let report: pmk_backing_report

    init(_ mapping: PMemMapping) {
        self.mapping = mapping
        let r = MappingReport(mapping: mapping)
        report = pmk_backing_report(
            kind: UnsafePointer(strdup(r.kind.rawValue)), backing: UnsafePointer(strdup(r.backing.rawValue)),
            flush_method: UnsafePointer(strdup(r.flushMethod)),
            persistence_domain: UnsafePointer(strdup(r.persistenceDomain.rawValue)),
            deep_flush: UnsafePointer(strdup(r.deepFlush.rawValue)), is_pmem: r.isPMem ? 1 : 0,
            map_sync: r.mapSync ? 1 : 0, size: r.size)
    }

    deinit {
        for text in [
            report.kind, report.backing, report.flush_method, report.persistence_domain, report.deep_flush,
        ] {
            free(UnsafeMutablePointer(mutating: text))
        }
    }

    /// PMK_E_INVALID unless `[address, address+length)` is inside the mapping.
    func checkRange(_ address: UnsafeRawPointer, _ length: Int, _ name: String) throws {
        try PMemKitC.checkRange(
            address, length, name, isInside: mapping.base, mapping.size,
            outside: "outside the mapping of \(mapping.path)")
    }
}

let mappings = HandleTable<CMapping>(kind: "mapping", first: 0x1_0000)

/// Maps a path (`pmk_map_open` in pmemkit.h).
@_cdecl("pmk_map_open")
public func pmkMapOpen(
    _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<pmk_map_options>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    cCall {
        let out = try required(out, "out")
        let path = try string(path, "path")
        var mapOptions = PMemMapping.Options()
        if let o = options?.pointee {
            let bytes = try size(o.size, "size")
            mapOptions = PMemMapping.Options(
                size: bytes == 0 ? nil : bytes, create: o.create != 0,
                plainFile: o.msync_plain_files != 0 ? .file : nil, requirePMem: o.require_pmem != 0)
            if mapOptions.create && bytes == 0 {
                throw CAPIError.invalid("create needs a size (\(path))")
            }
        }
        out.pointee = mappings.insert(CMapping(try PMemMapping(path: path, options: mapOptions)))
    }
}

/// Unmaps; reports a `file` backing's msync failure (`pmk_map_close`).
@_cdecl("pmk_map_close")
public func pmkMapClose(_ map: OpaquePointer?) -> Int32 {
    cCall {
        let mapping = try mappings.remove(map).mapping
        try mapping.checkDurability()
    }
}

/// The mapping's address and size (`pmk_map_base`).
@_cdecl("pmk_map_base")
public func pmkMapBase(
    _ map: OpaquePointer?, _ base: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ size: UnsafeMutablePointer<Int>?
) -> Int32 {
    cCall {
        let mapping = try mappings.lookup(map).mapping
        base?.pointee = mapping.base
        size?.pointee = mapping.size
    }
}

/// What backs the mapping (`pmk_map_report`).
@_cdecl("pmk_map_report")
public func pmkMapReport(_ map: OpaquePointer?, _ out: UnsafeMutablePointer<pmk_backing_report>?) -> Int32 {
    cCall {
        let out = try required(out, "report")
        out.pointee = try mappings.lookup(map).report
    }
}

/// Makes a range of the mapping durable (`pmk_persist`).
@_cdecl("pmk_persist")
public func pmkPersist(_ map: OpaquePointer?, _ address: UnsafeRawPointer?, _ length: Int) -> Int32 {
    cCall {
        let held = try mappings.lookup(map)
        let address = try required(address, "addr")
        let length = try size(length, "len")
        try held.checkRange(address, length, "addr")
        held.mapping.persist(address, length)
        try held.mapping.checkDurability()
    }
}

/// Copies into the mapping and makes the bytes durable (`pmk_memcpy_persist`).
@_cdecl("pmk_memcpy_persist")
public func pmkMemcpyPersist(
    _ map: OpaquePointer?, _ destination: UnsafeMutableRawPointer?, _ source: UnsafeRawPointer?, _ length: Int
) -> Int32 {
    cCall {
        let held = try mappings.lookup(map)
        let destination = try required(destination, "dst")
        let source = try required(source, "src")
        let length = try size(length, "len")
        try held.checkRange(destination, length, "dst")
        held.mapping.copyPersist(toOffset: destination - held.mapping.base, from: source, count: length)
        try held.mapping.checkDurability()
    }
}

/// Flushes the write pending queues behind the mapping (`pmk_map_deep_flush`).
@_cdecl("pmk_map_deep_flush")
public func pmkMapDeepFlush(_ map: OpaquePointer?, _ regions: UnsafeMutablePointer<Int32>?) -> Int32 {
    cCall {
        let flushed = try mappings.lookup(map).mapping.deepFlush()
        regions?.pointee = Int32(flushed.count)
    }
}

/// The library version (`pmk_version`).
@_cdecl("pmk_version")
public func pmkVersion() -> UnsafePointer<CChar> { versionString }

nonisolated(unsafe) private let versionString = UnsafePointer(strdup(PMemKitVersion.string)!)
