#if DEBUG
    internal import CPMemHeap
    internal import CPMemReplication
    import Foundation
    @_spi(Primitives) import PMemKit
    @testable import PMemHeap
    @testable import PMemReplication

    /// A list node, the object type of the template pools.
    public struct FuzzItem: PersistentType {
        /// The item's number.
        public var value: UInt64
        /// The next item.
        public var next: PersistentPointer<FuzzItem>
        /// Stored name.
        public static var persistentName: String { "fuzz.Item" }
        /// Pointer fields.
        public static var persistentPointers: [PartialKeyPath<FuzzItem>] { [\FuzzItem.next] }

        /// An item.
        public init(value: UInt64, next: PersistentPointer<FuzzItem>) {
            self.value = value
            self.next = next
        }
    }

    /// The list's root.
    public struct FuzzHead: PersistentType {
        /// Items in the list.
        public var count: UInt64
        /// The newest item.
        public var first: PersistentPointer<FuzzItem>
        /// Stored name.
        public static var persistentName: String { "fuzz.Head" }
        /// Pointer fields.
        public static var persistentPointers: [PartialKeyPath<FuzzHead>] { [\FuzzHead.first] }

        /// A head.
        public init(count: UInt64, first: PersistentPointer<FuzzItem>) {
            self.count = count
            self.first = first
        }
    }

    /// Small pools the targets and their seeds start from, made by the real code.
    public enum TemplatePool {
        /// Bytes of a template pool: 94 slabs of 4 KiB after 16 lanes of 4 KiB.
        public static let size = 512 << 10
        /// Options of a template pool.
        public static var options: HeapCreateOptions {
            HeapCreateOptions(slabSize: 4096, logSize: 64 << 10, guarded: false)
        }

        /// The UUID of every template pool, so that what one process seals
        /// validates in another (seeds are written by one, fuzzed by the other).
        public static let uuid = UUID(uuidString: "F0220000-0000-4000-8000-00000000C0DE")!
        /// The UUID of every template log.
        public static let logUUID = UUID(uuidString: "F0220000-0000-4000-8000-00000000106D")!

        /// Creates an empty pool at `path` and opens it: a new pool whose UUID
        /// is then set to `uuid`, every checksum resealed.
        public static func create(at path: String) throws -> PersistentHeap {
            try PersistentHeap.create(path: path, size: size, options: options).close()
            var image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            image.withUnsafeMutableBytes { raw in
                var identity = raw.baseAddress!.loadUnaligned(as: pmh_pool_identity.self)
                identity.uuid = uuid.uuid
                raw.baseAddress!.storeBytes(of: identity, as: pmh_pool_identity.self)
            }
            image.withUnsafeMutableBytes { HeapReseal.reseal($0, .all) }
            try Data(image).write(to: URL(fileURLWithPath: path))
            return try PersistentHeap.open(path: path, options: HeapOpenOptions(guarded: false))
        }

        /// Creates a pool at `path` holding a list of `items` (the root), pushed
        /// `perTransaction` at a time; `observer` sees each commit. The heap is
        /// returned open: close it, or read the file first to keep its pending
        /// redo records.
        public static func makeList(
            at path: String, items: Int, perTransaction: Int = 1,
            observer: ((CommittedTransaction) -> Void)? = nil
        ) throws -> PersistentHeap {
            let heap = try create(at: path)
            if let observer { heap.addObserver(observer) }
            try push(items, perTransaction: perTransaction, into: heap) { try heap.transaction($0) }
            return heap
        }

        /// Pushes `items` onto the list of `heap` (creating its root), through `transaction`.
        public static func push(
            _ items: Int, perTransaction: Int, into heap: PersistentHeap,
            transaction: ((Transaction) throws -> Void) throws -> Void
        ) throws {
            try heap.register(FuzzItem.self)
            try heap.register(FuzzHead.self)
            if try heap.root(FuzzHead.self).isNull {
                try transaction { tx in
                    try tx.setRoot(try tx.allocate(FuzzHead.self, FuzzHead(count: 0, first: .null)))
                }
            }
            let root = try heap.root(FuzzHead.self).address!
            var pushed = 0
            while pushed < items {
                let n = min(perTransaction, items - pushed)
                try transaction { tx in
                    var head = tx.read(root)
                    for _ in 0..<n {
                        let item = try tx.allocate(
                            FuzzItem.self, FuzzItem(value: head.count + 1, next: head.first))
                        head = FuzzHead(count: head.count + 1, first: item)
                    }
                    try tx.write(head, to: root)
                }
                pushed += n
            }
        }

        /// Rewrites every item of the list of `heap` in one transaction: a
        /// redo record larger than a template pool's 4 KiB lane, written
        /// across lanes (`RecordParts`) once the list holds over 130 items.
        public static func touchAll(_ heap: PersistentHeap) throws {
            let root = try heap.root(FuzzHead.self).address!
            try heap.transaction { tx in
                var item = tx.read(root).first
                while let address = item.address {
                    var value = tx.read(address)
                    value.value += 1_000_000
                    try tx.write(value, to: address)
                    item = value.next
                }
            }
        }

        /// The salt of the pool whose identity block is at `base`, as its checksums use it.
        public static func salt(ofPoolAt base: UnsafeRawPointer) -> UInt64 {
            salt(uuid: UUID(uuid: base.loadUnaligned(as: pmh_pool_identity.self).uuid))
        }

        /// The checksum salt of a pool with `uuid` (`PoolIdentity.salt`).
        public static func salt(uuid: UUID) -> UInt64 {
            let none = PoolGeometry(
                poolSize: 0, slabSize: 0, typeTableOffset: 0, typeCapacity: 0, slabDirectoryOffset: 0,
                slabCount: 0, logOffset: 0, laneCount: 0, laneSize: 0, slabsOffset: 0)
            return PoolIdentity(uuid: uuid, geometry: none).salt
        }
    }

    /// A replicated pool, its log, and a replica store fed from it, made once
    /// per process by the real code (`Replicator`, `RecordIndex`, `ReplicaStore`).
    public final class ReplicatedTemplate: @unchecked Sendable {
        /// The log file.
        public let logPath: String
        /// The log's UUID (seeds its record checksums).
        public let logUUID: UUID
        /// The seed of the log's record checksums.
        public let logSalt: UInt64
        /// The pool's checksum salt (seeds its redo records').
        public let poolSalt: UInt64
        /// Every record of the log, as the agent batches them: a baseline, then transactions.
        public let batches: [(first: UInt64, bytes: [UInt8])]
        /// The sequence number of the log's last record.
        public let lastSequence: UInt64
        /// The redo records of the pool's transactions, as sealed.
        public let redoRecords: [[UInt8]]
        /// A store's `state` file once the first batch (the baseline) is applied.
        public let storeState: [UInt8]
        /// That store's pool copy (`pool.1`).
        public let storePool: [UInt8]
        /// The log file's bytes up to the end of its last record.
        public let logBytes: [UInt8]

        /// Makes everything in `scratch` (files `template.*`).
        public init(in scratch: Scratch, transactions: Int = 6) throws {
            let poolPath = scratch.file("template.pool")
            logPath = scratch.file("template.log")
            let storePath = scratch.file("template.store")
            for name in ["template.pool", "template.log", "template.store"] { scratch.remove(name) }
            final class Records: @unchecked Sendable { var all: [[UInt8]] = [] }
            let records = Records()
            let heap = try TemplatePool.create(at: poolPath)
            heap.addObserver { records.all.append(Array($0.recordBytes)) }
            try heap.register(FuzzItem.self)
            try heap.register(FuzzHead.self)
            _ = try LogRegion.create(path: logPath, capacity: 64 << 10, uuid: TemplatePool.logUUID)
            let replicator = try Replicator.attach(
                to: heap, logPath: logPath,
                options: .init(
                    logCapacity: 64 << 10, backPressure: .fail, transactionReserve: 8 << 10,
                    baselineChunk: 16 << 10))
            try TemplatePool.push(transactions, perTransaction: 1, into: heap) {
                try replicator.transaction($0)
            }
            poolSalt = TemplatePool.salt(ofPoolAt: heap.base)
            replicator.detach()
            try heap.close()
            redoRecords = records.all

            let region = try LogRegion.open(path: logPath)
            logUUID = region.uuid
            logSalt = region.salt
            let batches = Self.batches(of: region)
            self.batches = batches
            let index = RecordIndex(region: region).refreshed()
            lastSequence = index.lastSequence
            let end = Int(index.endPosition)
            logBytes = Array(
                UnsafeRawBufferPointer(start: region.mapping.base, count: LogFormat.superblockSize + end))

            let store = try ReplicaStore(directory: storePath, maxBatchBytes: 1 << 20)
            try store.follow(log: region.uuid)
            try batches[0].bytes.withUnsafeBytes {
                _ = try store.apply(batch: $0, firstSequence: batches[0].first)
            }
            storeState = scratch.read("template.store/state")
            storePool = scratch.read("template.store/pool.1")
            for batch in batches.dropFirst() {
                try batch.bytes.withUnsafeBytes { _ = try store.apply(batch: $0, firstSequence: batch.first) }
            }
            guard store.state.lastTransaction == UInt64(transactions + 1) else {
                throw ProtocolError("the template store applied up to \(store.state.lastTransaction)")
            }
        }

        /// Every record of a log from its reclaim point, as batches of
        /// consecutive bytes (split where the ring wraps or a baseline ends, as the agent does).
        public static func batches(of region: LogRegion, maxBytes: Int = 1 << 20) -> [(
            first: UInt64, bytes: [UInt8]
        )] {
            let index = RecordIndex(region: region).refreshed()
            var out: [(UInt64, [UInt8])] = []
            var next = index.firstSequence
            while let run = index.run(from: next, maxBytes: maxBytes) {
                let start = region.ring + Int(run.position % UInt64(region.capacity))
                out.append((next, Array(UnsafeRawBufferPointer(start: start, count: run.bytes))))
                next += UInt64(run.count)
            }
            return out
        }
    }

    extension RecordIndex {
        /// The index after reading every record written.
        func refreshed() -> RecordIndex {
            var copy = self
            copy.refresh()
            return copy
        }
    }

    /// Recomputes the checksums a fuzzer cannot guess, so that mutated inputs
    /// reach the checks behind them. Each mirrors the real layout's own
    /// checksum (the seeds and sizes come from the code under test).
    public enum Reseal {
        /// Reseals the log records laid back to back in `bytes` from `offset`
        /// (as in a batch, or a ring from its reclaim point): each whole
        /// record's checksum under `salt`, and with `poolSalt`, the redo record
        /// a transaction record carries. With `ringLap`, `bytes` is a ring and
        /// `offset` the ring offset of position `ringLap + offset`: each
        /// record's position field is set to where it lies, and a wrap record
        /// continues at the ring's start, one lap on; with `firstSequence`,
        /// sequence numbers count up from it. Stops at the first record whose
        /// payload does not fit.
        public static func logRecords(
            _ bytes: UnsafeMutableRawBufferPointer, from offset: Int = 0, salt: UInt64,
            poolSalt: UInt64? = nil,
            ringLap: UInt64? = nil, firstSequence: UInt64? = nil
        ) {
            guard let start = bytes.baseAddress else { return }
            var at = offset
            var sequence = firstSequence
            var lap = ringLap
            var wrapped = false
            for _ in 0..<65536 {
                // A ring's walk ends where it started, one lap on.
                guard at >= 0, bytes.count - at >= LogFormat.headerSize, !wrapped || at < offset else {
                    return
                }
                let p = start + at
                var header = p.loadUnaligned(as: pmr_log_record_header.self)
                let payload = Int(header.payload_length)
                guard payload <= bytes.count - at - LogFormat.headerSize else { return }
                if let lap { header.position = lap &+ UInt64(at) }
                if let s = sequence, header.kind != LogRecordKind.wrap.rawValue {
                    header.sequence = s
                    sequence = s &+ 1
                }
                p.storeBytes(of: header, as: pmr_log_record_header.self)
                if let poolSalt, header.kind == LogRecordKind.transaction.rawValue {
                    redoRecord(
                        inPayload: UnsafeMutableRawBufferPointer(
                            start: p + LogFormat.headerSize, count: payload), salt: poolSalt)
                }
                header.checksum = LogRecordHeader.checksum(p, payloadLength: payload, salt: salt)
                p.storeBytes(of: header, as: pmr_log_record_header.self)
                if header.kind == LogRecordKind.wrap.rawValue, let current = lap, !wrapped {
                    wrapped = true
                    lap = current &+ UInt64(bytes.count)
                    at = 0
                    continue
                }
                at += LogFormat.footprint(payload: payload)
            }
        }

        /// Reseals the redo record a transaction payload carries (`PoolWritesPayload`), if it has one that fits.
        public static func redoRecord(inPayload payload: UnsafeMutableRawBufferPointer, salt: UInt64) {
            guard payload.count >= PoolWritesPayload.headerSize, let base = payload.baseAddress else {
                return
            }
            let header = base.loadUnaligned(as: pmr_pool_writes_header.self)
            let offset = Int(header.record_offset)
            guard offset > 0, offset < payload.count else { return }
            redoRecord(
                UnsafeMutableRawBufferPointer(start: base + offset, count: payload.count - offset), salt: salt
            )
        }

        /// Reseals the heap redo record at the start of `record` when its length fits there.
        public static func redoRecord(_ record: UnsafeMutableRawBufferPointer, salt: UInt64) {
            guard record.count >= HeapFormat.recordHeaderSize, let p = record.baseAddress else { return }
            var header = p.loadUnaligned(as: pmh_redo_record_header.self)
            let length = Int(header.length)
            guard length >= HeapFormat.recordHeaderSize, length <= record.count else { return }
            // The checksum reads 8-byte words: compute it over an aligned copy.
            let copy = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 64)
            defer { copy.deallocate() }
            copy.copyMemory(from: p, byteCount: length)
            header.checksum = RedoRecord.checksum(UnsafeRawPointer(copy), header: header, salt: salt)
            p.storeBytes(of: header, as: pmh_redo_record_header.self)
        }

        /// Reseals both slots of a `SlotPair` of `Slot` at `offset` of `bytes` with `seed`.
        static func slots<Slot: SlotRecord>(
            _: Slot.Type, in bytes: UnsafeMutableRawBufferPointer, offset: Int, seed: UInt64
        ) {
            let size = MemoryLayout<Slot>.size
            for index in 0..<2 {
                let at = offset + index * MemoryLayout<Slot>.stride
                guard let base = bytes.baseAddress, at >= 0, bytes.count - at >= size else { return }
                let sum = Checksum.of(base + at, size - 8, seed: seed ^ UInt64(index))
                (base + at + size - 8).storeBytes(of: sum, as: UInt64.self)
            }
        }

        /// Reseals the two state slots at the start of a replica store's `state` file bytes.
        public static func replicaState(_ bytes: UnsafeMutableRawBufferPointer) {
            slots(
                pmr_replica_state_slot.self, in: bytes, offset: ReplicaState.slotsOffset,
                seed: ReplicaState.seed)
        }

        /// Reseals a replica journal's header (its first 64 bytes).
        public static func journalHeader(_ bytes: UnsafeMutableRawBufferPointer) {
            let size = MemoryLayout<pmr_journal_header>.size
            guard let base = bytes.baseAddress, bytes.count >= size else { return }
            let sum = Checksum.of(base, size - 8, seed: ReplicaJournal.seed)
            (base + size - 8).storeBytes(of: sum, as: UInt64.self)
        }

        /// Reseals a log superblock's identity block and its attach and reclaim slots.
        public static func logSuperblock(_ bytes: UnsafeMutableRawBufferPointer, identity: Bool, slots: Bool)
        {
            guard let base = bytes.baseAddress, bytes.count >= LogFormat.superblockSize else { return }
            if identity {
                let checked = MemoryLayout<pmr_log_identity>.offset(of: \.checksum)!
                let sum = Checksum.of(
                    base + LogFormat.identityOffset, checked, seed: LogFormat.Seed.identity.rawValue)
                (base + LogFormat.identityOffset + checked).storeBytes(of: sum, as: UInt64.self)
            }
            if slots {
                let uuid = (base + LogFormat.identityOffset).loadUnaligned(as: pmr_log_identity.self).uuid
                let salt = LogFormat.salt(of: UUID(uuid: uuid))
                Self.slots(
                    pmr_attach_slot.self, in: bytes, offset: LogFormat.attachSlotsOffset,
                    seed: salt ^ LogFormat.Seed.attach.rawValue)
                Self.slots(
                    pmr_reclaim_slot.self, in: bytes, offset: LogFormat.reclaimSlotsOffset,
                    seed: salt ^ LogFormat.Seed.reclaim.rawValue)
            }
        }

        /// The salt of the log whose superblock starts `bytes`.
        public static func logSalt(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
            guard let base = bytes.baseAddress, bytes.count >= LogFormat.superblockSize else { return nil }
            return LogFormat.salt(
                of: UUID(
                    uuid: (base + LogFormat.identityOffset).loadUnaligned(as: pmr_log_identity.self).uuid))
        }
    }
#endif
