// fuzz-redo-record: arbitrary bytes as a heap redo record shipped to a
// replica (`ReplicaPoolImage.validated(record:)`, then `apply`), through the
// entry validation every walker shares (`RedoRecord.validateEntries`,
// `RedoEntryCodec.decode(_:end:bounds:)`), and as a replicated transaction's
// payload (`PoolWritesPayload.parse`). Each must throw or refuse, never trap,
// and never write outside the pool.
//
// Input: a flags byte, then the record. The record is copied to an 8-aligned
// buffer of exactly its size, so AddressSanitizer sees any read past it.
#if DEBUG
    internal import CPMemHeap
    import Foundation
    import FuzzSupport
    @_spi(Primitives) import PMemKit
    @testable import PMemHeap
    @testable import PMemReplication

    enum RedoRecordFuzz {
        struct Flags: OptionSet {
            let rawValue: UInt8
            /// The header's length is set to the bytes given.
            static let length = Flags(rawValue: 1)
            /// The checksum is recomputed under the replica pool's salt.
            static let reseal = Flags(rawValue: 2)
            /// A record that validates is applied to the replica pool.
            static let apply = Flags(rawValue: 4)
        }

        /// A replica's pool image (a real pool) the records are checked and applied against.
        final class Replica: @unchecked Sendable {
            let mapping: PMemMapping
            let image: ReplicaPoolImage
            let salt: UInt64
            let bounds: RedoRecord.Bounds

            init() throws {
                let path = scratch.file("pool")
                scratch.remove("pool")
                try TemplatePool.makeList(at: path, items: 20).close()
                mapping = try PMemMapping(path: path)
                image = try ReplicaPoolImage(mapping: mapping)
                salt = TemplatePool.salt(ofPoolAt: mapping.base)
                bounds = RedoRecord.Bounds(geometry: image.geometry)
            }
        }

        static let scratch = Scratch("redo-record")
        nonisolated(unsafe) static var replica: Replica?

        static let target = FuzzTarget(name: "redo-record", run: run, seeds: seeds)

        static func run(_ data: UnsafeRawBufferPointer) {
            var reader = ByteReader(data)
            let flags = Flags(rawValue: reader.integer(UInt8.self) ?? 0)
            let bytes = reader.rest()
            if replica == nil { replica = try! Replica() }
            let replica = replica!
            let record = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
            defer { record.deallocate() }
            bytes.withUnsafeBytes { record.copyMemory(from: $0) }
            let start = record.baseAddress
            if let start, record.count >= HeapFormat.recordHeaderSize {
                if flags.contains(.length) {
                    start.storeBytes(
                        of: UInt32(truncatingIfNeeded: record.count),
                        toByteOffset: MemoryLayout<pmh_redo_record_header>.offset(of: \.length)!,
                        as: UInt32.self)
                }
                if flags.contains(.reseal) { Reseal.redoRecord(record, salt: replica.salt) }
                // The recovery walkers validate a record whose length is in bounds.
                if Int(RedoRecord.length(start)) <= record.count {
                    _ = RedoRecord.validateEntries(start, bounds: replica.bounds)
                    _ = RedoRecord.entries(start, bounds: replica.bounds)
                }
            }
            let readOnly = UnsafeRawBufferPointer(record)
            if let validated = FuzzDriver.attempt(
                "validate", { try replica.image.validated(record: readOnly) }),
                flags.contains(.apply)
            {
                let poolSize = replica.image.geometry.poolSize
                replica.image.apply(validated) { offset, length in
                    precondition(
                        offset >= 0 && length >= 0 && offset + length <= poolSize, "applied outside the pool")
                }
            }
            _ = try? PoolWritesPayload.parse(readOnly, poolSize: replica.image.geometry.poolSize)
        }

        /// The redo records of a real list's transactions (the root, then items), as sealed.
        static func seeds() throws -> [(name: String, bytes: [UInt8])] {
            final class Records: @unchecked Sendable { var all: [[UInt8]] = [] }
            let records = Records()
            scratch.remove("seed")
            let heap = try TemplatePool.makeList(at: scratch.file("seed"), items: 3) {
                records.all.append(Array($0.recordBytes))
            }
            try TemplatePool.push(40, perTransaction: 40, into: heap) { try heap.transaction($0) }
            try heap.close()
            scratch.remove("seed")
            let all: Flags = [.length, .reseal, .apply]
            return records.all.enumerated().map { index, bytes in ("record-\(index)", [all.rawValue] + bytes)
            }
                + [("record-0-as-is", [0] + records.all[0])]
        }
    }

#endif

@main enum Main {
    static func main() {
        #if DEBUG
            FuzzDriver.main(RedoRecordFuzz.target)
        #else
            print("fuzz targets read internals (@testable): build them in debug (tools/fuzz)")
        #endif
    }
}
