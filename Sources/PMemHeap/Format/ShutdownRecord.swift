internal import CPMemHeap
import Foundation
@_spi(Primitives) import PMemKit

/// The devices under a pool and their unsafe-shutdown counts, as recorded at
/// the pool's last open or clean close (`pmh_shutdown_record`, two checksummed
/// slots written alternately like the state slots).
///
/// Pools written before the record existed have zeros there: no record.
struct ShutdownRecord: Equatable {
    /// Increases with each write; the valid slot with the higher one is current.
    var generation: UInt64
    /// Device ids and their counts then.
    var devices: [ShutdownCount]
    /// More devices were under the pool than a slot holds (the first are kept).
    var truncated: Bool

    private static let checkedBytes = MemoryLayout<pmh_shutdown_record>.offset(of: \.checksum)!
    static var maxDevices: Int { Int(PMH_SHUTDOWN_MAX_DEVICES) }
    static var idSize: Int { Int(PMH_SHUTDOWN_ID_SIZE) }

    static func seed(salt: UInt64, slot: Int) -> UInt64 {
        salt ^ HeapFormat.Seed.shutdown.rawValue ^ UInt64(slot)
    }

    /// The current record and its slot, or nil when neither slot holds a valid one.
    static func read(from base: UnsafeRawPointer, salt: UInt64) -> (ShutdownRecord, slot: Int)? {
        var best: (ShutdownRecord, Int)?
        for slot in 0..<2 {
            let p = base + HeapFormat.shutdownSlotOffsets[slot]
            let raw = p.load(as: pmh_shutdown_record.self)
            guard raw.generation != 0, raw.generation < PoolState.generationLimit,
                Int(raw.ndevices) <= maxDevices,
                Checksum.of(p, checkedBytes, seed: seed(salt: salt, slot: slot)) == raw.checksum
            else { continue }
            let devices = elements(of: raw.devices, as: pmh_shutdown_device.self, count: Int(raw.ndevices))
                .map {
                    device in
                    let id = withUnsafeBytes(of: device.id) { bytes in
                        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    // Only the id and the count are stored: the rest is what this machine calls it now.
                    return ShutdownCount(id: id, device: "", count: device.count, source: .smart)
                }
            let record = ShutdownRecord(
                generation: raw.generation, devices: devices, truncated: raw.truncated != 0)
            if best == nil || record.generation > best!.0.generation { best = (record, slot) }
        }
        return best
    }

    /// Writes `devices` as the next record, into the slot not holding `current`, and persists it.
    static func write(
        _ devices: [ShutdownCount], after current: (ShutdownRecord, slot: Int)?, pool: PoolMemory
    ) {
        let slot = current.map { 1 - $0.slot } ?? 0
        var raw = pmh_shutdown_record()
        raw.generation = (current?.0.generation ?? 0) + 1
        raw.ndevices = UInt32(min(devices.count, maxDevices))
        raw.truncated = devices.count > maxDevices ? 1 : 0
        withElements(of: &raw.devices, as: pmh_shutdown_device.self) { slots in
            for (i, device) in devices.prefix(maxDevices).enumerated() {
                slots[i].count = device.count
                withUnsafeMutableBytes(of: &slots[i].id) { bytes in
                    // Ids longer than the field keep their end, where serial numbers are.
                    let utf8 = Array(device.id.utf8.suffix(idSize - 1))
                    bytes.copyBytes(from: utf8)
                }
            }
        }
        raw.checksum = checksum(of: raw, upTo: checkedBytes, seed: seed(salt: pool.salt, slot: slot))
        let p = pool.base + HeapFormat.shutdownSlotOffsets[slot]
        p.storeBytes(of: raw, as: pmh_shutdown_record.self)
        pool.persist(p, HeapFormat.shutdownSlotSize)
    }

    /// The id a device is recorded under (its stored form: at most `idSize - 1` bytes).
    static func storedID(_ id: String) -> String {
        String(decoding: Array(id.utf8.suffix(idSize - 1)), as: UTF8.self)
    }
}
