import Foundation
import PMemKit

/// What `pmemctl heap info` shows: identity, geometry, state, types, root.
/// Read from a view that cannot write to the pool.
public struct HeapInfo: Encodable, Sendable {
    /// A registered type as stored.
    public struct TypeEntry: Encodable, Sendable {
        /// Type id (index in the type table plus one).
        public var id: UInt32
        /// Stable name.
        public var name: String
        /// Bytes.
        public var size: Int
        /// Alignment.
        public var alignment: Int
        /// Pointer field offsets.
        public var pointerOffsets: [Int]
        /// Layout hash, hexadecimal.
        public var layoutHash: String

        enum CodingKeys: String, CodingKey {
            case id, name, size, alignment
            case pointerOffsets = "pointer_offsets"
            case layoutHash = "layout_hash"
        }
    }

    /// The pool path.
    public var path: String
    /// Pool UUID.
    public var uuid: String
    /// Format version (1, or 2 for a pool created with features).
    public var version: UInt32
    /// How allocation state survives a crash: `logged` or `reachability` (see `AllocationRecovery`).
    public var recovery: String
    /// Bytes of the pool.
    public var size: Int
    /// Bytes per slab.
    public var slabSize: Int
    /// Slabs in the pool.
    public var slabCount: Int
    /// Redo log lanes and bytes per lane.
    public var lanes: Int
    /// Bytes per lane.
    public var laneSize: Int
    /// The base the pointers are written for (hexadecimal); the relocation target while one is pending.
    public var base: String
    /// Every base pointers may hold while a relocation is pending (else just `base`).
    public var bases: [String]
    /// The last close was clean.
    public var cleanShutdown: Bool
    /// A relocation was interrupted and will be finished by the next open.
    public var relocationPending: Bool
    /// The redo log checkpoint (sequence number).
    public var checkpoint: UInt64
    /// Committed transactions in the log newer than the checkpoint (intact records).
    public var pendingTransactions: Int
    /// Damage in the redo log: committed records that cannot be replayed (empty when intact).
    public var logDamage: [String]
    /// Root object address (hexadecimal) or null.
    public var root: String?
    /// Root object's type name, or null.
    public var rootType: String?
    /// Registered types.
    public var types: [TypeEntry]
    /// How many types the pool can hold.
    public var typeCapacity: Int
    /// The devices under the pool and their unsafe-shutdown counts as the pool
    /// recorded them at its last open or clean close (empty: none recorded).
    public var shutdownCounts: [RecordedCount]
    /// What the devices count now (empty off PMem or where they count nothing).
    public var currentShutdownCounts: [ShutdownCount]
    /// An unsafe shutdown while the pool was open, which its next open will check for; nil when none.
    public var unsafeShutdown: UnsafeShutdown?

    /// A device's count as the pool recorded it.
    public struct RecordedCount: Encodable, Sendable, Equatable {
        /// `nvdimm:<unique id>`, `cxl:<serial>`.
        public var id: String
        /// Its unsafe-shutdown count then.
        public var count: UInt64
    }

    enum CodingKeys: String, CodingKey {
        case path, uuid, version, recovery, size, lanes, base, bases, checkpoint, root, types
        case shutdownCounts = "shutdown_counts"
        case currentShutdownCounts = "current_shutdown_counts"
        case unsafeShutdown = "unsafe_shutdown"
        case slabSize = "slab_size"
        case slabCount = "slab_count"
        case laneSize = "lane_size"
        case cleanShutdown = "clean_shutdown"
        case relocationPending = "relocation_pending"
        case pendingTransactions = "pending_transactions"
        case logDamage = "log_damage"
        case rootType = "root_type"
        case typeCapacity = "type_capacity"
    }

    /// Reads the pool at `path`; throws `corrupt` when it is damaged.
    public static func read(path: String) throws -> HeapInfo {
        try read(path: path, counter: PersistentHeap.machineShutdownCounts)
    }

    /// `read(path:)` with the devices' counts from `counter` (tests).
    package static func read(path: String, counter: (String) -> [ShutdownCount]) throws -> HeapInfo {
        let view = try PoolView(path: path)
        let s = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path)
        let g = s.geometry
        let scan = RedoLogScan.scan(
            in: view.base, geometry: g, checkpoint: s.checkpoint, salt: s.identity.salt)
        let pending = scan.records.count
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        let recorded = ShutdownRecord.read(from: view.base, salt: s.identity.salt)?.0.devices
        let now = counter(path)
        let changes = UnsafeShutdown.changes(recorded: recorded, now: now, leftOpen: !s.state.cleanShutdown)
        return HeapInfo(
            path: path, uuid: s.identity.uuid.uuidString.lowercased(),
            version: s.identity.features.isEmpty ? HeapFormat.version : HeapFormat.featuresVersion,
            recovery: s.identity.features.contains(.reachability)
                ? AllocationRecovery.reachability.rawValue : AllocationRecovery.logged.rawValue,
            size: g.poolSize,
            slabSize: g.slabSize, slabCount: g.slabCount, lanes: g.laneCount, laneSize: g.laneSize,
            base: hex(s.state.bases[0]), bases: s.state.bases.map(hex), cleanShutdown: s.state.cleanShutdown,
            relocationPending: s.state.relocationPending, checkpoint: s.checkpoint,
            pendingTransactions: pending, logDamage: scan.damage.map(\.description),
            root: s.rootAddress == 0 ? nil : hex(s.rootAddress),
            rootType: s.rootType == 0 ? nil : s.types[Int(s.rootType) - 1].description.name,
            types: s.types.map {
                TypeEntry(
                    id: $0.id, name: $0.description.name, size: $0.description.size,
                    alignment: $0.description.alignment, pointerOffsets: $0.description.pointerOffsets,
                    layoutHash: String(format: "%016llx", $0.layoutHash))
            },
            typeCapacity: g.typeCapacity,
            shutdownCounts: (recorded ?? []).map { RecordedCount(id: $0.id, count: $0.count) },
            currentShutdownCounts: now,
            unsafeShutdown: changes.isEmpty ? nil : UnsafeShutdown(changes: changes))
    }
}

/// What `pmemctl heap stats` shows: slab and object usage per type.
public struct HeapStats: Encodable, Sendable {
    /// Usage of one type.
    public struct TypeUsage: Encodable, Sendable {
        /// Type name.
        public var name: String
        /// Slabs holding this type.
        public var slabs: Int
        /// Allocated objects.
        public var objects: Int
        /// Object slots in those slabs.
        public var capacity: Int
        /// Bytes of allocated objects (slots times stride).
        public var bytesAllocated: Int

        enum CodingKeys: String, CodingKey {
            case name, slabs, objects, capacity
            case bytesAllocated = "bytes_allocated"
        }
    }

    /// Slabs in the pool.
    public var slabsTotal: Int
    /// Slabs assigned to a type.
    public var slabsUsed: Int
    /// Slabs still free.
    public var slabsFree: Int
    /// Allocated objects, all types.
    public var objects: Int
    /// Bytes of allocated objects.
    public var bytesAllocated: Int
    /// Bytes of slabs still free.
    public var bytesFree: Int
    /// Per type, in id order.
    public var types: [TypeUsage]

    enum CodingKeys: String, CodingKey {
        case objects, types
        case slabsTotal = "slabs_total"
        case slabsUsed = "slabs_used"
        case slabsFree = "slabs_free"
        case bytesAllocated = "bytes_allocated"
        case bytesFree = "bytes_free"
    }

    /// Reads the pool at `path`; throws `corrupt` when it is damaged.
    public static func read(path: String) throws -> HeapStats {
        let view = try PoolView(path: path)
        let s = try PoolSnapshot.load(base: view.base, fileSize: view.size, path: path)
        let g = s.geometry
        var usage = s.types.map {
            TypeUsage(name: $0.description.name, slabs: 0, objects: 0, capacity: 0, bytesAllocated: 0)
        }
        let layouts = s.types.map {
            SlabLayout(stride: $0.stride, alignment: $0.description.alignment, slabSize: g.slabSize)!
        }
        for (slab, typeID) in s.slabTypes.enumerated() where typeID != 0 {
            let i = Int(typeID) - 1
            let bitmap = view.base + g.slabOffset(slab)
            let objects = (0..<layouts[i].bitmapWords).reduce(0) {
                $0 + bitmap.load(fromByteOffset: $1 * 8, as: UInt64.self).nonzeroBitCount
            }
            usage[i].slabs += layouts[i].slabsPerObject
            usage[i].objects += objects
            usage[i].capacity += layouts[i].count
            usage[i].bytesAllocated += objects * layouts[i].stride
        }
        let used = usage.reduce(0) { $0 + $1.slabs }
        return HeapStats(
            slabsTotal: g.slabCount, slabsUsed: used, slabsFree: g.slabCount - used,
            objects: usage.reduce(0) { $0 + $1.objects },
            bytesAllocated: usage.reduce(0) { $0 + $1.bytesAllocated },
            bytesFree: (g.slabCount - used) * g.slabSize, types: usage)
    }
}
